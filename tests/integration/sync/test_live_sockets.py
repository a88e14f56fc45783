"""Live sync over WebSocket (GET /sync/ws): who may hold a socket and when it is
closed: the ways to authenticate and the refusals, a suspended tenant, the frame
limit, the per-user socket limit, token expiry, deactivation, shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork
from syncd.app import create_app
from syncd.auth import tokens
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.ws import closed_with, connect, next_json, until

Sessions = async_sessionmaker[AsyncSession]


async def test_other_ways_to_authenticate_and_refusals(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, WS_HELLO_TIMEOUT_SECONDS="0.5")
    )
    client = await aiohttp_client(app)
    staff = await signed_in(client, sessions, Role.STAFF)
    by_message = await client.ws_connect("/sync/ws")
    await by_message.send_json({"type": "auth", "token": staff.access_token})
    await by_message.send_json({"type": "hello", "client_id": "a", "cursor": None})
    assert (await until(by_message, "caught_up"))[-1]["type"] == "caught_up"
    await by_message.close()
    by_query = await client.ws_connect(f"/sync/ws?token={staff.access_token}")
    await by_query.send_json({"type": "hello"})
    await until(by_query, "caught_up")
    await by_query.close()
    none = await client.ws_connect("/sync/ws")
    await none.send_json({"type": "hello"})
    assert await closed_with(none) == 4401
    forged = await client.ws_connect("/sync/ws?token=not-a-token")
    await forged.send_json({"type": "hello"})
    assert await closed_with(forged) == 4401
    silent = await client.ws_connect(f"/sync/ws?token={staff.access_token}")
    assert await closed_with(silent) == 4408
    rude = await client.ws_connect(f"/sync/ws?token={staff.access_token}")
    await rude.send_json({"type": "push"})
    assert await closed_with(rude) == 4400
    evil = await client.get(
        "/sync/ws",
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        },
    )
    assert evil.status == 403


async def test_a_suspended_tenants_token_streams_nothing(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    async with PlatformUnitOfWork(sessions) as uow:
        await uow.session.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(is_active=False)
        )
        await uow.commit()
    ws = await connect(client, staff)
    assert await closed_with(ws) == 4403


async def test_frame_limit_closes_with_1009(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(tmp_path, DATABASE_URL=database_url, MAX_WS_FRAME_BYTES="2048"))
    )
    staff = await signed_in(client, sessions, Role.STAFF)
    ws = await connect(client, staff)
    await until(ws, "caught_up")
    await ws.send_str(json.dumps({"type": "ping", "pad": "x" * 5000}))
    assert await closed_with(ws) == 1009


async def test_past_the_per_user_limit_the_oldest_socket_is_closed_with_4409(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    client = await aiohttp_client(
        create_app(make_settings(tmp_path, DATABASE_URL=database_url, WS_MAX_SOCKETS_PER_USER="2"))
    )
    tenant = await make_tenant(sessions)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    colleague = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    theirs = await signed_in(client, sessions, Role.TECHNICIAN)  # another tenant
    first = await connect(client, tech, client_id="phone-1")
    await until(first, "caught_up")
    others = [await connect(client, colleague, client_id="c-1")]
    others.append(await connect(client, theirs, client_id="t-1"))
    second = await connect(client, tech, client_id="phone-2")
    await until(second, "caught_up")
    for ws in others:
        await until(ws, "caught_up")
    third = await connect(client, tech, client_id="phone-3")
    await until(third, "caught_up")
    assert await closed_with(first) == 4409  # the oldest of this user's three
    for ws in (second, third, *others):  # the newer ones, and everyone else's, carry on
        await ws.send_json({"type": "ping"})
        assert (await next_json(ws))["type"] == "pong"
        await ws.close()


async def test_token_expiry_closes_with_4401(
    client: Any, sessions: Sessions, settings: Any
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    me = await (await client.get("/auth/me", headers=staff.headers)).json()
    from datetime import UTC, datetime

    short = tokens.encode_access(
        settings.jwt_access_secret,
        settings.jwt_issuer,
        user_id=staff.user_id,
        tenant_id=staff.tenant.id,
        role=Role.STAFF,
        session_id=uuid.UUID(me["session_id"]),
        issued_at=datetime.now(UTC),
        ttl_s=3,  # whole seconds: the token lives 2-3 s, long enough to catch up
    )
    ws = await client.ws_connect("/sync/ws", protocols=("syncd.v1", f"bearer.{short}"))
    await ws.send_json({"type": "hello"})
    await until(ws, "caught_up")
    assert await closed_with(ws) == 4401


async def test_deactivation_closes_the_users_sockets(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    ws = await connect(client, tech)
    await until(ws, "caught_up")
    response = await client.post(f"/users/{tech.user_id}/deactivate", headers=admin.headers)
    assert response.status == 200, await response.text()
    assert await closed_with(ws) == 4403


async def test_shutdown_asks_clients_to_reconnect(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path, DATABASE_URL=database_url)))
    staff = await signed_in(client, sessions, Role.STAFF)
    ws = await connect(client, staff)
    await until(ws, "caught_up")
    closing = asyncio.create_task(closed_with(ws))
    await client.server.close()
    assert await closing == 1012
