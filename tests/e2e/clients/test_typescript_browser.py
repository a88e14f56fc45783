"""The SDK's example technician page in headless Chromium, offline and back.

`clients/typescript/examples/technician.html` is a small page on
`@syncd/client` with the IndexedDB adapter and a service worker. Debian's
Chromium (Python playwright, no browser download) loads it against a real
`syncd serve` (SQLite and PostgreSQL), goes offline (`set_offline(True)`),
starts a task with the device's position, reloads (the outbox is kept in
IndexedDB), goes online, and the action reaches a Python-side pull of the
server as the admin.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Geolocation, async_playwright

from tests.support.processes import PASSWORD, free_port
from tests.support.services import service_missing
from tests.support.ts_sdk import SDK_DIR, Served, sdk_node, serve, server_environment

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
GEO: Geolocation = {"latitude": 24.7136, "longitude": 46.6753, "accuracy": 9}
TECH_PASSWORD = "technician-password-1"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        service_missing("Chromium", "not at /usr/bin/chromium")
    return CHROMIUM


@pytest.fixture
def static_port() -> Iterator[int]:
    """Serve clients/typescript (the example and the built SDK) on loopback."""
    sdk_node()  # builds dist/
    port = free_port()
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(Quiet, directory=str(SDK_DIR))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(params=["sqlite", "postgresql"])
def page_server(
    request: pytest.FixtureRequest, tmp_path: Path, static_port: int
) -> Iterator[Served]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'syncd.db'}"
    else:
        url = request.getfixturevalue("fresh_pg_database")()
    env = server_environment(url, tmp_path)
    env["CORS_ORIGINS"] = f"http://127.0.0.1:{static_port}"
    running = serve(env, tmp_path)
    try:
        yield running
    finally:
        running.stop()


async def call(
    http: aiohttp.ClientSession, method: str, url: str, bearer: str | None = None, **body: Any
) -> Any:
    headers = {"X-Tenant": "demo"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    async with http.request(method, url, json=body or None, headers=headers) as response:
        answer = await response.json()
        assert response.status < 300, answer
        return answer


async def push(http: aiohttp.ClientSession, base: str, token: str, change: dict[str, Any]) -> None:
    body = {"client_id": "py-admin", "batch_id": uuid.uuid4().hex, "changes": [change]}
    answer = await call(http, "POST", f"{base}/sync/push", token, **body)
    assert answer["results"][0]["status"] == "applied", answer


async def pull_all(http: aiohttp.ClientSession, base: str, token: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        page = await call(http, "GET", f"{base}/sync/pull?since={cursor}&limit=5000", token)
        changes.extend(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes


async def test_an_action_recorded_offline_survives_a_reload_and_reaches_the_server(
    page_server: Served, static_port: int, chromium: Path
) -> None:
    base = page_server.url
    async with aiohttp.ClientSession() as http:
        admin = await call(
            http, "POST", f"{base}/auth/login", email="admin@demo.example", password=PASSWORD
        )
        token = admin["access_token"]
        email = f"browser-{uuid.uuid4().hex[:6]}@demo.example"
        invited = await call(
            http, "POST", f"{base}/users/invite", token, email=email, role="technician"
        )
        await call(
            http,
            "POST",
            f"{base}/auth/accept-invite",
            token=invited["invite_token"],
            password=TECH_PASSWORD,
        )
        task_id = str(uuid.uuid4())
        stamp = f"{1764000000000:013d}:0000:py-admin"
        await push(
            http,
            base,
            token,
            {
                "entity": "task",
                "id": task_id,
                "op": "upsert",
                "fields": {"title": "Fix the chiller"},
                "hlc": stamp,
                "base_version": 0,
            },
        )
        await push(
            http,
            base,
            token,
            {
                "entity": "task",
                "id": task_id,
                "op": "action",
                "action": "assign",
                "fields": {"user_id": invited["user"]["id"]},
                "hlc": f"{1764000000001:013d}:0000:py-admin",
                "base_version": 0,
            },
        )

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = await browser.new_context(geolocation=GEO, permissions=["geolocation"])
            page = await context.new_page()
            page_url = (
                f"http://127.0.0.1:{static_port}/examples/technician.html?server={base}&tenant=demo"
            )
            await page.goto(page_url)
            await page.wait_for_selector("body[data-ready=true]")
            await page.fill("input[name=email]", email)
            await page.fill("input[name=password]", TECH_PASSWORD)
            await page.click("#login button")
            row = f"li[data-id='{task_id}']"
            await page.wait_for_selector(f"{row}[data-status=assigned]")
            await page.wait_for_function("window.sync.status().live === true")

            await context.set_offline(True)
            await page.wait_for_function("window.sync.status().live === false")
            await page.click(f"{row} button[data-action=start]")
            await page.wait_for_selector(f"{row}[data-status=in_progress]")
            assert await page.evaluate("window.sync.status().pending") == 1

            await page.reload()  # offline: the service worker serves the page
            await page.wait_for_selector("body[data-ready=true]")
            await page.wait_for_selector(f"{row}[data-status=in_progress]")
            assert await page.evaluate("window.sync.status().pending") == 1

            await context.set_offline(False)
            await page.evaluate("window.dispatchEvent(new Event('online'))")
            await page.wait_for_function("window.sync.status().pending === 0")
            await browser.close()

        changes = await pull_all(http, base, token)
        task = next(c["data"] for c in changes if c["entity"] == "task" and c["id"] == task_id)
        assert task["status"] == "in_progress"
        started = [
            c["data"]
            for c in changes
            if c["entity"] == "task_event"
            and c["data"].get("task_id") == task_id
            and c["data"].get("kind") == "started"
        ]
        assert len(started) == 1
        assert (started[0]["lat"], started[0]["lng"]) == (GEO["latitude"], GEO["longitude"])
