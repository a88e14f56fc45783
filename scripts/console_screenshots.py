"""Regenerate the admin console's screenshots (docs/console/*.png) from a seeded server.

    .venv/bin/python scripts/console_screenshots.py [--out docs/console] [--database-url URL]

Starts syncd in this process on a free loopback port (a fresh SQLite database
by default), seeds the demo tenant through the same doors a fleet uses -- the
admin from `syncd seed`, people by invitation, tasks and conflicting edits
pushed by two technicians' phones over POST /sync/push, a receipt rejected for
an unknown purchase, a job sheet that fails for good -- then signs the admin in
with headless Chromium (Debian's /usr/bin/chromium through playwright, from the
test extra) and photographs each page in English and the inbox in Arabic.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from playwright.async_api import Page, ViewportSize, async_playwright
from sqlalchemy import update

from jobs.queue import InProcessQueue
from storage.database import create_engine, session_factory
from storage.models import Device
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.migrate import upgrade
from syncd.seed import DEMO_SLUG, seed
from syncd.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ADMIN = ("admin@demo.example", "console-demo-password")  # the same: never a real password
PASSWORD = "technician-demo-password"  # noqa: S105  (a throwaway demo server's people)
WINDOW: ViewportSize = {"width": 1280, "height": 860}
SHOTS = (
    ("login", "/console/login", "en"),
    ("inbox", "/console/inbox", "en"),
    ("conflict", None, "en"),
    ("devices", "/console/devices", "en"),
    ("rejections", "/console/rejections", "en"),
    ("jobs", "/console/jobs", "en"),
    ("audit", "/console/audit", "en"),
    ("tasks", "/console/tasks", "en"),
    ("inbox-ar", "/console/inbox", "ar"),
)


class Demo:
    """The seeded server, spoken to over HTTP as its clients do."""

    def __init__(self, app: web.Application, base: str, http: ClientSession) -> None:
        self.app, self.base, self.http = app, base, http
        self.tokens: dict[str, str] = {}
        self.users: dict[str, str] = {}
        self.conflict_id = ""
        self.version = 0

    async def call(self, method: str, path: str, who: str, body: Any = None) -> Any:
        headers = {"X-Tenant": DEMO_SLUG}
        if who:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            answer = await r.json(content_type=None) if r.status != 204 else None
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {answer}")
            return answer

    async def sign_in(self, name: str, email: str, password: str) -> None:
        body = {"email": email, "password": password}
        self.tokens[name] = (await self.call("POST", "/auth/login", "", body))["access_token"]

    async def invite(self, name: str, email: str, role: str, display: str) -> None:
        body = {"email": email, "role": role, "display_name": display}
        invited = await self.call("POST", "/users/invite", "admin", body)
        self.users[name] = invited["user"]["id"]
        accept = {"token": invited["invite_token"], "password": PASSWORD}
        self.tokens[name] = (await self.call("POST", "/auth/accept-invite", "", accept))[
            "access_token"
        ]

    async def push(self, who: str, device: str, changes: list[dict[str, Any]]) -> Any:
        body = {"client_id": device, "batch_id": uuid.uuid4().hex, "changes": changes}
        return (await self.call("POST", "/sync/push", who, body))["results"]

    async def pull_version(self, who: str) -> int:
        page = await self.call("GET", "/sync/pull?limit=5000&client_id=phone-" + who, who)
        return int(max([c["version"] for c in page["changes"]] or [0]))


COUNTER = itertools.count()


def stamp(node: str) -> str:
    """A hybrid logical clock stamp of now, for `node`."""
    return f"{int(utcnow().timestamp() * 1000):013d}:{next(COUNTER) % 10_000:04d}:{node}"


def upsert(entity: str, row_id: str, node: str, base: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "entity": entity,
        "id": row_id,
        "op": "upsert",
        "fields": fields,
        "hlc": stamp(node),
        "base_version": base,
    }


def assign(task_id: str, node: str, user_id: str) -> dict[str, Any]:
    return {
        "entity": "task",
        "id": task_id,
        "op": "action",
        "action": "assign",
        "hlc": stamp(node),
        "base_version": 0,
        "fields": {"user_id": user_id},
    }


async def populate(demo: Demo) -> None:
    await demo.sign_in("admin", *ADMIN)
    await demo.call("PATCH", "/tenant", "admin", {"time_zone": "Asia/Riyadh"})
    await demo.invite("staff", "dispatch@demo.example", "staff", "Dana (dispatch)")
    await demo.invite("amal", "amal@demo.example", "technician", "Amal Haddad")
    await demo.invite("omar", "omar@demo.example", "technician", "Omar Saleh")
    titles = ("Replace the pump seal", "Inspect the boiler", "Fit two radiator valves")
    tasks = [str(uuid.uuid4()) for _ in titles]
    changes = []
    for task_id, title in zip(tasks, titles, strict=True):
        changes.append(upsert("task", task_id, "desk", title=title, priority="normal"))
    changes += [
        assign(tasks[0], "desk", demo.users["amal"]),
        assign(tasks[0], "desk", demo.users["omar"]),
    ]
    changes += [
        assign(tasks[1], "desk", demo.users["omar"]),
        assign(tasks[1], "desk", demo.users["amal"]),
    ]
    changes.append(upsert("task", str(uuid.uuid4()), "desk", title="Quote a new heat pump"))
    await demo.push("staff", "dispatch-desk", changes)
    base = await demo.pull_version("amal")
    await demo.pull_version("omar")
    await demo.push(
        "omar", "phone-omar", [upsert("task", tasks[0], "phone-omar", base, priority="high")]
    )
    results = await demo.push(
        "amal", "phone-amal", [upsert("task", tasks[0], "phone-amal", base, priority="low")]
    )
    demo.conflict_id = results[0]["conflict_id"]
    due = (utcnow() + timedelta(days=2)).isoformat()
    await demo.push(
        "omar", "phone-omar", [upsert("task", tasks[1], "phone-omar", base, due_at=due)]
    )
    later = (utcnow() + timedelta(days=3)).isoformat()
    await demo.push(
        "amal", "tablet-amal", [upsert("task", tasks[1], "tablet-amal", base, due_at=later)]
    )
    receipt = upsert(
        "receipt",
        str(uuid.uuid4()),
        "dispatch-desk",
        purchase_id=str(uuid.uuid4()),
        total_minor=4500,
        currency="EUR",
        issued_at=utcnow().isoformat(),
    )
    await demo.push("staff", "dispatch-desk", [receipt])
    await failed_job(demo, tasks[2])
    async with TenantUnitOfWork(demo.app[appkeys.SESSIONS], await tenant_id(demo)) as uow:
        quiet = utcnow() - timedelta(days=2)  # a phone that went quiet, to show the alert
        await uow.session.execute(
            update(Device).where(Device.client_id == "tablet-amal").values(last_seen_at=quiet)
        )
        await uow.commit()


async def tenant_id(demo: Demo) -> uuid.UUID:
    return uuid.UUID((await demo.call("GET", "/tenant", "admin"))["id"])


async def failed_job(demo: Demo, task_id: str) -> None:
    """A job sheet that cannot be stored (a file stands where its folder goes): it fails."""
    queue = demo.app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    queue.backoff_s = ()
    folder = demo.app[appkeys.SETTINGS].blob_root / "tenants" / str(await tenant_id(demo))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reports").write_bytes(b"in the way")
    await demo.call("POST", f"/tasks/{task_id}/job-sheets", "staff", {"locale": "en"})
    await queue.drain()
    (folder / "reports").unlink()


async def photograph(demo: Demo, out: Path) -> list[Path]:
    made = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(base_url=demo.base, viewport=WINDOW, locale="en-GB")
        page = await context.new_page()
        for name, path, locale in SHOTS:
            if name == "inbox":
                await sign_in(page)
            if locale == "ar":
                await switch_language(page, "ar")
            await page.goto(path or f"/console/conflicts/{demo.conflict_id}")
            target = out / f"{name}.png"
            await page.screenshot(path=str(target), full_page=True)
            made.append(target)
        await browser.close()
    return made


async def sign_in(page: Page) -> None:
    await page.goto("/console/login")
    await page.get_by_label("Organisation").fill(DEMO_SLUG)
    await page.get_by_label("Email").fill(ADMIN[0])
    await page.get_by_label("Password").fill(ADMIN[1])
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url("**/console/inbox")


async def switch_language(page: Page, locale: str) -> None:
    await page.select_option("#language", locale)
    await page.get_by_role("button", name="Change").click()
    await page.wait_for_load_state()


async def serving(
    database_url: str | None, var: Path, work: Callable[[Demo], Awaitable[Any]]
) -> Any:
    settings = load_settings(
        {
            "SYNCD_ENV": "dev",
            "SYNCD_VAR_DIR": str(var),
            "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{var / 'syncd.db'}",
            "BCRYPT_ROUNDS": "4",
            "LOG_LEVEL": "warning",
        }
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        await seed(session_factory(engine), *ADMIN)
    finally:
        await engine.dispose()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as http:
            return await work(Demo(app, f"http://127.0.0.1:{port}", http))
    finally:
        await runner.cleanup()


async def run(out: Path, database_url: str | None) -> list[Path]:
    with tempfile.TemporaryDirectory(prefix="syncd-shots-") as var:

        async def work(demo: Demo) -> list[Path]:
            await populate(demo)
            return await photograph(demo, out)

        made: list[Path] = await serving(database_url, Path(var), work)
        return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--database-url", help="a fresh database (default: SQLite in a temp dir)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(run(args.out, args.database_url)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
