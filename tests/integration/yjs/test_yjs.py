"""Collaborative notes (GET /sync/yjs/{document}, `ydoc` pushes) with a Python client.

The client is pycrdt plus aiohttp's WebSocket, speaking y-protocols through
protocol/yprotocol.py, against the real app on both databases.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycrdt import Text
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yprotocol as y
from protocol.roles import Role
from storage import ydoc_store
from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from storage.ydoc_live import LiveWrites
from syncd.app import create_app
from syncd.auth import tokens
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import action, push
from tests.support.yjs import Editor, closed_with, new_task, open_editor, ydoc_change

Sessions = async_sessionmaker[AsyncSession]


async def test_editors_converge_and_a_late_joiner_loads_the_text(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    name = f"task:{await new_task(client, staff)}:notes"
    a, b = await open_editor(client, staff, name), await open_editor(client, staff, name)
    await a.insert(0, "hello")
    await b.until(lambda: str(b.text) == "hello")
    await b.insert(5, " world")
    await a.until(lambda: str(a.text) == "hello world")
    awareness = y.encode_awareness([y.AwarenessEntry(a.doc.client_id, 1, '{"user":"a"}')])
    await a.ws.send_bytes(y.awareness(awareness))
    await b.until(lambda: awareness in b.awareness)
    late = await open_editor(client, staff, name)
    assert str(late.text) == "hello world"
    await a.ws.close()  # b hears that a's awareness state is gone
    await b.until(lambda: any(e.removed for p in b.awareness for e in y.decode_awareness(p)))
    for editor in (b, late):
        await editor.ws.close()


async def test_a_ydoc_push_reaches_a_live_editor_and_is_stored(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    editor = await open_editor(client, staff, f"task:{task_id}:notes")
    offline = ydoc_store.new_doc()
    offline.get("notes", type=Text).insert(0, "typed offline")
    answer = await push(client, staff, "phone", [ydoc_change(task_id, offline.get_update())])
    assert answer["results"][0]["status"] == "applied"
    assert "version" not in answer["results"][0] or answer["results"][0]["version"] is None
    await editor.until(lambda: str(editor.text) == "typed offline")
    await editor.ws.close()
    async with TenantUnitOfWork(sessions, staff.tenant.id) as uow:
        stored = await ydoc_store.load(uow.session, f"task:{task_id}:notes")
    assert str(stored.get("notes", type=Text)) == "typed offline"


async def test_a_garbage_ydoc_push_is_rejected(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    answer = await push(client, staff, "phone", [ydoc_change(task_id, b"garbage")])
    result = answer["results"][0]
    assert result["status"] == "rejected", result
    assert result["problem"]["code"] == "validation_failed"


async def test_another_tenant_learns_nothing_and_technicians_need_assignment(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    task_id = await new_task(client, admin)
    name = f"task:{task_id}:notes"
    owner = await open_editor(client, admin, name)
    await owner.insert(0, "secret")
    stranger = await signed_in(client, sessions, Role.ADMIN)
    foreign = await open_editor(client, stranger, name, sync=False)
    assert await closed_with(foreign.ws) == 4404
    missing = await open_editor(client, stranger, f"task:{uuid.uuid4()}:notes", sync=False)
    assert await closed_with(missing.ws) == 4404  # the same answer as for a task that exists
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    refused = await open_editor(client, tech, name, sync=False)
    assert await closed_with(refused.ws) == 4403
    await push(
        client,
        admin,
        "dash",
        [action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    assigned = await open_editor(client, tech, name)
    await assigned.until(lambda: str(assigned.text) == "secret")
    for editor in (owner, assigned):
        await editor.ws.close()


async def test_a_suspended_tenants_token_opens_no_editor(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    name = f"task:{await new_task(client, staff)}:notes"
    async with PlatformUnitOfWork(sessions) as uow:
        await uow.session.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(is_active=False)
        )
        await uow.commit()
    refused = await open_editor(client, staff, name, sync=False)
    assert await closed_with(refused.ws) == 4403


async def test_past_the_per_user_limit_the_oldest_editor_is_closed_with_4409(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, YJS_MAX_SOCKETS_PER_USER="2")
    client = await aiohttp_client(create_app(settings))
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    colleague = await signed_in(client, sessions, Role.STAFF, tenant)
    names = [f"task:{await new_task(client, staff)}:notes" for _ in range(3)]
    first, second = [await open_editor(client, staff, name) for name in names[:2]]
    theirs = await open_editor(client, colleague, names[0])
    third = await open_editor(client, staff, names[2])
    assert await closed_with(first.ws) == 4409
    # The newer sockets of the user, and the colleague's, still edit and relay.
    await second.insert(0, "still here")
    await third.insert(0, "and here")
    await theirs.insert(0, "theirs")
    reopened = await open_editor(client, staff, names[1])  # closes `second` in turn
    assert await closed_with(second.ws) == 4409
    await reopened.until(lambda: str(reopened.text) == "still here")
    for editor in (theirs, third, reopened):
        await editor.ws.close()


async def test_refusals_and_close_codes(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, MAX_WS_FRAME_BYTES="2048")
    client = await aiohttp_client(create_app(settings))
    staff = await signed_in(client, sessions, Role.STAFF)
    name = f"task:{await new_task(client, staff)}:notes"
    for bad in ("task:nope:notes", f"task:{uuid.uuid4()}:title", "purchase:x:notes"):
        assert (await client.get(f"/sync/yjs/{bad}")).status == 404
    no_token = await client.ws_connect(f"/sync/yjs/{name}")
    assert await closed_with(no_token) == 4401
    by_protocol = await client.ws_connect(
        f"/sync/yjs/{name}", protocols=("syncd.yjs", f"bearer.{staff.access_token}")
    )
    assert by_protocol.protocol == "syncd.yjs"
    await Editor(by_protocol).sync()
    for frame in (b"\x00\x09", b"\x00\x02\x05ab", y.sync_update(b"garbage")):
        editor = await open_editor(client, staff, name)
        await editor.ws.send_bytes(frame)
        assert await closed_with(editor.ws) == 4400
    texty = await open_editor(client, staff, name)
    await texty.ws.send_str("hello")
    assert await closed_with(texty.ws) == 4400
    big = await open_editor(client, staff, name)
    await big.ws.send_bytes(y.sync_update(b"x" * 5000))
    assert await closed_with(big.ws) == 1009
    await by_protocol.close()


async def test_token_expiry_closes_with_4401(
    client: Any, sessions: Sessions, settings: Any
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    name = f"task:{await new_task(client, staff)}:notes"
    me = await (await client.get("/auth/me", headers=staff.headers)).json()
    staff.access_token = tokens.encode_access(
        settings.jwt_access_secret,
        settings.jwt_issuer,
        user_id=staff.user_id,
        tenant_id=staff.tenant.id,
        role=Role.STAFF,
        session_id=uuid.UUID(me["session_id"]),
        issued_at=datetime.now(UTC),
        ttl_s=2,
    )
    editor = await open_editor(client, staff, name)
    assert await closed_with(editor.ws) == 4401


async def test_shutdown_asks_editors_to_reconnect(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path, DATABASE_URL=database_url)))
    staff = await signed_in(client, sessions, Role.STAFF)
    editor = await open_editor(client, staff, f"task:{await new_task(client, staff)}:notes")
    closing = asyncio.create_task(closed_with(editor.ws))
    await client.server.close()
    assert await closing == 1012


async def test_rooms_relay_between_two_apps_over_redis(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    aiohttp_client: Any,
    sessions: Sessions,
) -> None:
    prefix = redis_prefix
    apps = [
        await aiohttp_client(
            create_app(
                make_settings(
                    tmp_path / label,
                    DATABASE_URL=database_url,
                    REDIS_URL=redis_url,
                    REDIS_PREFIX=prefix,
                )
            )
        )
        for label in ("a", "b")
    ]
    tenant = await make_tenant(sessions)
    on_a = await signed_in(apps[0], sessions, Role.STAFF, tenant)
    on_b = await signed_in(apps[1], sessions, Role.STAFF, tenant)
    task_id = await new_task(apps[0], on_a)
    name = f"task:{task_id}:notes"
    a, b = await open_editor(apps[0], on_a, name), await open_editor(apps[1], on_b, name)
    await a.insert(0, "from a")
    await b.until(lambda: str(b.text) == "from a")
    offline = ydoc_store.new_doc()
    offline.get("notes", type=Text).insert(0, "pushed to b; ")
    await push(apps[1], on_b, "phone", [ydoc_change(task_id, offline.get_update())])
    await a.until(lambda: "pushed to b; " in str(a.text))
    for editor in (a, b):
        await editor.ws.close()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        stored = await ydoc_store.load(uow.session, name)
        backlog = await ydoc_store.backlog(uow.session, name)
    assert str(stored.get("notes", type=Text)) == str(a.text)
    assert backlog.updates <= 2  # stored once each, never twice by the relay


async def test_deactivation_closes_the_users_editors(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task_id = await new_task(client, admin)
    editor = await open_editor(client, staff, f"task:{task_id}:notes")
    response = await client.post(f"/users/{staff.user_id}/deactivate", headers=admin.headers)
    assert response.status == 200, await response.text()
    assert await closed_with(editor.ws) == 4403


async def test_a_burst_is_stored_in_few_transactions_and_relayed_whole(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    name = f"task:{await new_task(client, staff)}:notes"
    writer, reader = await open_editor(client, staff, name), await open_editor(client, staff, name)
    for n in range(300):  # sent without waiting: stores group while one is in flight
        await writer.insert(n, "x")
    await reader.until(lambda: str(reader.text) == "x" * 300)
    tenant_id = staff.tenant.id
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        stored = await ydoc_store.load(uow.session, name)
    assert str(stored.get("notes", type=Text)) == "x" * 300  # relayed only once stored
    for editor in (writer, reader):
        await editor.ws.close()


async def test_an_update_that_cannot_be_stored_closes_its_sender_and_reaches_no_one(
    client: Any, sessions: Sessions, monkeypatch: Any
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    name = f"task:{await new_task(client, staff)}:notes"
    writer, reader = await open_editor(client, staff, name), await open_editor(client, staff, name)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(LiveWrites, "append", broken)
    await writer.insert(0, "lost")
    assert await closed_with(writer.ws) == 1011  # its client resends on reconnect
    monkeypatch.undo()
    await reader.insert(0, "kept")
    await reader.ws.send_bytes(y.sync_step1(reader.doc.get_state()))
    await reader.until(lambda: reader.synced)
    assert str(reader.text) == "kept"  # the unstored update was never relayed
    await reader.ws.close()
