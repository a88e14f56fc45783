"""The console's pages are served safely: a strict CSP and no inline code on every
page, every device value escaped, no page for a technician, none of a tenant's rows
for another tenant's session, and the forms' limits kept.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.console.render import CONSOLE_CSP
from tests.support.console import Console
from tests.support.console_world import receipt_change, team, two_phone_conflict
from tests.support.factories import signed_in
from tests.support.sync import push, upsert

Sessions = async_sessionmaker[AsyncSession]


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
