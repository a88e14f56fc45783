"""The console's pages: what they show, what their forms do, how they are served.

Strict CSP and no inline code on every page; every device value escaped;
Arabic right to left and the language switch; the device alerts; the tasks
board's assignments reaching a technician's phone; bulk resolution; the
audit log's filters in the tenant's time zone; the Arabic catalog complete.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from jinja2.ext import extract_from_ast
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Device, SyncRejection
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from syncd.console.render import CONSOLE_CSP, NAV
from syncd.i18n import translations
from tests.support.console import Console
from tests.support.console_world import receipt_change, team, two_phone_conflict
from tests.support.factories import signed_in
from tests.support.services import make_settings
from tests.support.sync import Replica, action, hlc, push, upsert

Sessions = async_sessionmaker[AsyncSession]
TEMPLATES = Path(__file__).resolve().parents[3] / "syncd" / "console" / "templates"
PAGES = (
    "/console/inbox",
    "/console/devices",
    "/console/rejections?status=all",
    "/console/jobs",
    "/console/audit",
    "/console/tasks",
)
HOSTILE = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


async def test_every_page_has_a_strict_csp_and_no_inline_code(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    assert "unsafe-inline" not in CONSOLE_CSP
    assert "script-src 'self'" in CONSOLE_CSP
    for path in (*PAGES, f"/console/conflicts/{made.conflict_id}", "/console/login", "/nope"):
        path = path if path != "/nope" else "/console/no-such-page"
        response, text = await console.get(path)
        assert response.headers["Content-Security-Policy"] == CONSOLE_CSP, path
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert re.search(r"<script(?![^>]*\bsrc=)", text) is None, path
        assert re.search(r"\sstyle=|\son[a-z]+=|javascript:", text) is None, path
    missing, _ = await console.get("/console/no-such-page")
    assert missing.status == 404
    for name, kind in (("console.css", "text/css"), ("console.js", "application/javascript")):
        asset = await client.get(f"/console/static/{name}")
        assert asset.status == 200
        assert asset.content_type == kind
        assert "immutable" in asset.headers["Cache-Control"]
    assert (await client.get("/console/static/..%2Fsession.py")).status == 404


async def test_every_device_value_is_escaped(client: Any, sessions: Sessions) -> None:
    world = await team(client, sessions)
    purchase_id = uuid.uuid4()
    await push(
        client,
        world.staff,
        "desk",
        [
            upsert(
                "purchase",
                purchase_id,
                "desk",
                vendor=HOSTILE,
                amount_minor=100,
                currency="EUR",
                purchased_at="2026-11-24T09:00:00Z",
                line_items=[{"description": "a", "quantity": 1, "unit_price_minor": 100}],
            ),
            upsert("task", uuid.uuid4(), "desk", title=HOSTILE),
        ],
    )
    await push(
        client,
        world.staff,
        "desk-2",
        [
            upsert(
                "purchase",
                purchase_id,
                "desk-2",
                base=1,
                amount_minor=200,
                line_items=[{"description": HOSTILE, "quantity": 2, "unit_price_minor": 100}],
            )
        ],
    )
    answer = await push(
        client,
        world.staff,
        "desk",
        [
            upsert(
                "purchase",
                purchase_id,
                "desk",
                base=1,
                amount_minor=300,
                line_items=[{"description": HOSTILE, "quantity": 3, "unit_price_minor": 100}],
            )
        ],
    )
    assert answer["results"][0]["status"] == "conflict", answer
    conflict_id = answer["results"][0]["conflict_id"]
    hostile_agent = {"User-Agent": HOSTILE, **world.staff.headers}
    rejected = await client.post(
        "/sync/push",
        json={
            "client_id": "phone-h",
            "batch_id": uuid.uuid4().hex,
            "changes": [upsert("gadget", uuid.uuid4(), "phone-h", x=HOSTILE)],
        },
        headers=hostile_agent,
    )
    assert rejected.status == 200
    await client.post(
        "/auth/login",
        json={"email": HOSTILE + "@x", "password": "x"},
        headers={"X-Tenant": world.tenant.slug},
    )
    console = Console(client)
    await console.sign_in(world.admin)
    shown = 0
    for path in (*PAGES, f"/console/conflicts/{conflict_id}"):
        _, text = await console.get(path)
        assert HOSTILE not in text, path
        assert "<script>alert" not in text, path
        shown += text.count("&lt;script&gt;alert(")
    assert shown >= 5  # the task, the conflict's values, the device, the rejection, the audit


async def test_arabic_pages_are_right_to_left_and_the_language_can_change(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions, locale="ar")
    console = Console(client)
    _, text = await console.get("/console/login")
    assert '<html lang="en" dir="ltr">' in text  # no tenant known yet: the browser's language
    await console.sign_in(world.admin)
    _, text = await console.get("/console/inbox")
    assert '<html lang="ar" dir="rtl">' in text
    assert "صندوق التعارضات" in text
    switched, _ = await console.post("/console/language", {"lang": "en", "next": "/console/jobs"})
    assert switched.headers["Location"] == "/console/jobs"
    _, text = await console.get("/console/jobs")
    assert '<html lang="en" dir="ltr">' in text
    assert "Jobs per queue and state" in text
    await console.post("/console/language", {"lang": "ar", "next": "/console/jobs"})
    _, text = await console.get("/console/jobs")
    assert "المهام الخلفية حسب الطابور والحالة" in text
    refused, text = await console.get("/console/inbox?status=everything")
    assert refused.status == 422
    assert 'dir="rtl"' in text
    assert "validation_failed" in text


async def test_devices_silent_or_failing_too_long_are_highlighted(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app: web.Application = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, CONSOLE_DEVICE_ALERT_SECONDS="3600")
    )
    client = await aiohttp_client(app)
    world = await team(client, sessions)
    for device in ("phone-quiet", "phone-stuck", "phone-fine"):
        await push(client, world.staff, device, [upsert("task", uuid.uuid4(), device, title="t")])
    await push(client, world.staff, "phone-stuck", [receipt_change(uuid.uuid4(), "phone-stuck")])
    await push(client, world.staff, "phone-fine", [receipt_change(uuid.uuid4(), "phone-fine")])
    long_ago = utcnow() - timedelta(hours=2)
    async with TenantUnitOfWork(sessions, world.tenant.id) as uow:  # bookkeeping rows, aged
        await uow.session.execute(
            update(Device).where(Device.client_id == "phone-quiet").values(last_seen_at=long_ago)
        )
        await uow.session.execute(
            update(SyncRejection)
            .where(SyncRejection.client_id == "phone-stuck")
            .values(created_at=long_ago)
        )
        await uow.commit()
    console = Console(client)
    await console.sign_in(world.admin)
    _, text = await console.get("/console/devices")
    rows = {
        name: re.search(rf'<tr data-device="{name}"([^>]*)>(.*?)</tr>', text, re.S)
        for name in ("phone-quiet", "phone-stuck", "phone-fine")
    }
    assert all(rows.values()), text
    quiet, stuck, fine = (rows[n] for n in ("phone-quiet", "phone-stuck", "phone-fine"))
    assert quiet
    assert 'class="attention"' in quiet.group(1)
    assert ">silent<" in quiet.group(2)
    assert stuck
    assert 'class="attention"' in stuck.group(1)
    assert ">failing<" in stuck.group(2)
    assert fine
    assert "attention" not in fine.group(1)
    assert ">ok<" in fine.group(2)
    assert "1 rejected change open" in fine.group(2)
    assert "2 devices need attention." in text


async def test_the_tasks_board_assigns_and_unassigns_through_the_sync_path(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    task_id = uuid.uuid4()
    await push(client, world.staff, "desk", [upsert("task", task_id, "desk", title="Fit a valve")])
    console = Console(client)
    await console.sign_in(world.staff)
    _, board = await console.get("/console/tasks")
    assert re.search(r'data-status="open".*Fit a valve.*data-status="assigned"', board, re.S)
    assigned, _ = await console.post(
        f"/console/tasks/{task_id}/assign", {"user_id": str(world.tech_a.user_id)}
    )
    assert assigned.headers["Location"] == "/console/tasks?notice=assigned"
    phone = Replica()
    await phone.sync(client, world.tech_a)
    assert phone.rows[("task", str(task_id))]["status"] == "assigned"
    _, board = await console.get("/console/tasks?notice=assigned")
    assert "The technician was assigned." in board
    assert re.search(r'data-status="assigned".*Fit a valve.*data-status="in_progress"', board, re.S)
    await console.post(f"/console/tasks/{task_id}/unassign", {"user_id": str(world.tech_a.user_id)})
    await phone.sync(client, world.tech_a)
    assert ("task", str(task_id)) not in phone.rows
    twice, text = await console.post(
        f"/console/tasks/{task_id}/unassign", {"user_id": str(world.tech_a.user_id)}
    )
    assert twice.status == 409
    assert "not_assigned" in text


async def test_bulk_resolution_and_the_special_conflict_kinds(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    first = await two_phone_conflict(client, world)
    second = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    _, inbox = await console.get("/console/inbox?entity=task&age=1h")
    assert first.conflict_id in inbox
    assert second.conflict_id in inbox
    done, _ = await console.post(
        "/console/conflicts/resolve",
        [
            ("ids", first.conflict_id),
            ("ids", second.conflict_id),
            ("resolution", "take_client"),
            ("back", "/console/inbox?entity=task"),
        ],
    )
    assert done.headers["Location"] == "/console/inbox?entity=task&notice=resolved_many"
    for made in (first, second):
        await made.phone_b.sync(client, world.tech_b)
        assert made.phone_b.rows[("task", str(made.task_id))]["priority"] == "low"
    _, inbox = await console.get("/console/inbox")
    assert "No conflicts match these filters." in inbox
    _, resolved = await console.get(f"/console/inbox?status=resolved&user={world.tech_a.user_id}")
    assert first.conflict_id in resolved

    task_id = uuid.uuid4()
    await push(
        client,
        world.staff,
        "desk",
        [
            upsert("task", task_id, "desk", title="t"),
            action(task_id, "assign", "desk", fields={"user_id": str(world.tech_a.user_id)}),
        ],
    )
    await push(client, world.tech_a, "p1", [action(task_id, "start", "p1")])
    await push(client, world.tech_a, "p1", [action(task_id, "complete", "p1")])
    stale = await push(client, world.tech_a, "p2", [action(task_id, "pause", "p2")])
    stale_id = stale["results"][0]["conflict_id"]
    _, page = await console.get(f"/console/conflicts/{stale_id}")
    assert "stale_action" in page
    assert 'value="take_client"' not in page
    assert 'id="value-status"' in page
    reopened, _ = await console.post(
        f"/console/conflicts/{stale_id}/resolve", {"resolution": "custom", "value.status": "paused"}
    )
    assert reopened.status == 303
    bad_bulk, text = await console.post("/console/conflicts/resolve", {"resolution": "custom"})
    assert bad_bulk.status == 422
    assert "validation_failed" in text

    deleted_id = uuid.uuid4()
    await push(client, world.staff, "a", [upsert("task", deleted_id, "a", title="t")])
    await push(client, world.staff, "b", [upsert("task", deleted_id, "b", base=1, title="e")])
    gone = await push(
        client,
        world.staff,
        "a",
        [
            {
                "entity": "task",
                "id": str(deleted_id),
                "op": "delete",
                "hlc": hlc("a"),
                "base_version": 1,
            }
        ],
    )
    _, page = await console.get(f"/console/conflicts/{gone['results'][0]['conflict_id']}")
    assert "delete_update" in page
    assert 'value="custom"' not in page


async def test_a_custom_value_that_does_not_fit_shows_why(client: Any, sessions: Sessions) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    await console.get(f"/console/conflicts/{made.conflict_id}")
    refused, text = await console.post(
        f"/console/conflicts/{made.conflict_id}/resolve",
        {"resolution": "custom", "value.priority": "whenever"},
    )
    assert refused.status == 422
    assert "validation_failed" in text
    assert 'value="whenever"' in text  # what was typed is kept in the field
    unknown, _ = await console.get(f"/console/conflicts/{uuid.uuid4()}")
    assert unknown.status == 404
    not_an_id, _ = await console.get("/console/conflicts/not-a-uuid")
    assert not_an_id.status == 404


async def test_the_audit_log_filters_in_the_tenants_time_zone(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions, time_zone="Asia/Riyadh")
    console = Console(client)
    await console.sign_in(world.admin)
    local_now = utcnow() + timedelta(hours=3)  # Riyadh is UTC+3, all year
    since = (local_now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    later = (local_now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    _, recent = await console.get(f"/console/audit?action=login&since={since}")
    assert recent.count('data-action="login"') >= 2
    assert re.search(r'<time datetime="[^"]+\+03:00">', recent)
    _, none = await console.get(f"/console/audit?action=login&since={later}")
    assert 'data-action="login"' not in none
    _, before = await console.get(f"/console/audit?until={since}")
    assert "No entries match these filters." in before
    _, mine = await console.get(f"/console/audit?actor={world.admin.user_id}&action=login")
    assert 'data-action="login"' in mine


async def test_a_technician_has_no_console_pages(client: Any, sessions: Sessions) -> None:
    world = await team(client, sessions)
    console = Console(client)
    await console.sign_in(world.tech_a)
    home, text = await console.get("/console/")
    assert home.status == 200
    assert "your role opens none of them" in text
    assert 'href="/console/inbox"' not in text
    denied, _ = await console.get("/console/tasks")
    assert denied.status == 403


def template_messages() -> dict[str | tuple[str, str], str]:
    """Every text of the templates (a plural as its two English forms) and the navigation."""
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    found: dict[str | tuple[str, str], str] = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        tree = environment.parse(path.read_text(encoding="utf-8"))
        for _line, _function, message in extract_from_ast(tree, ("_", "gettext", "ngettext")):
            if isinstance(message, str):
                found[message] = path.name
            elif isinstance(message, tuple):
                found[(str(message[0]), str(message[1]))] = path.name
    for _href, label, _permission in NAV:
        found[label] = "render.py NAV"
    return found


def test_every_console_text_has_an_arabic_translation_with_the_same_fields() -> None:
    messages = template_messages()
    assert len(messages) > 100
    arabic = translations("ar", "console")
    fields = re.compile(r"{(\w+)}|%\((\w+)\)d")
    missing, mismatched = [], []
    for message, where in messages.items():
        if isinstance(message, tuple):  # every plural form: translated, with no other field
            forms = {arabic.ngettext(*message, n) for n in (0, 1, 2, 3, 11, 100)}
            if message[0] in forms or message[1] in forms:
                missing.append(f"{where}: {message!r}")
            elif any(set(fields.findall(f)) - {("", "num")} for f in forms):
                mismatched.append(f"{where}: {message!r}")
            continue
        translated = arabic.gettext(message)
        if translated == message:
            missing.append(f"{where}: {message!r}")
        elif set(fields.findall(translated)) != set(fields.findall(message)):
            mismatched.append(f"{where}: {message!r}")
    assert missing == [], "add to syncd/locale/ar/LC_MESSAGES/console.po"
    assert mismatched == []
    assert arabic.ngettext("%(num)d change", "%(num)d changes", 2) == "تغييران"


async def test_another_tenants_session_sees_none_of_a_tenants_rows(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    await push(client, world.staff, "phone-x", [receipt_change(uuid.uuid4(), "phone-x")])
    stranger = await signed_in(client, sessions, Role.ADMIN)
    console = Console(client)
    await console.sign_in(stranger)
    for path in PAGES:
        _, text = await console.get(path)
        assert made.conflict_id not in text
        assert "phone-amal" not in text
        assert "phone-x" not in text
    hidden, _ = await console.get(f"/console/conflicts/{made.conflict_id}")
    assert hidden.status == 404
    await console.get("/console/inbox")
    resolve, _ = await console.post(
        f"/console/conflicts/{made.conflict_id}/resolve", {"resolution": "keep_server"}
    )
    assert resolve.status == 404
    still = await client.get(f"/conflicts/{made.conflict_id}", headers=world.admin.headers)
    assert (await still.json())["status"] == "open"


async def test_the_forms_limits_are_kept(client: Any, sessions: Sessions) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    await console.get("/console/inbox")
    too_many = [("ids", str(uuid.uuid4())) for _ in range(201)] + [("resolution", "keep_server")]
    refused, text = await console.post("/console/conflicts/resolve", too_many)
    assert refused.status == 422
    assert "choose from 1 to 200 conflicts" in text
    too_long, text = await console.post(
        f"/console/conflicts/{made.conflict_id}/resolve",
        {"resolution": "custom", "value.priority": "x" * 20_001},
    )
    assert too_long.status == 422
    assert "longer than 20000 characters" in text
    not_ids, _ = await console.post(
        "/console/conflicts/resolve", [("ids", "nope"), ("resolution", "keep_server")]
    )
    assert not_ids.status == 422
    long_filter, _ = await console.get("/console/inbox?device=" + "d" * 101)
    assert long_filter.status == 422
