"""Live sync over WebSocket (GET /sync/ws) through the real app and databases."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.auth import tokens
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import action, push, upsert
from tests.support.ws import WAIT, closed_with, connect, next_json, until

Sessions = async_sessionmaker[AsyncSession]


async def test_catch_up_then_live_changes_in_order(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    other = await signed_in(client, sessions, Role.ADMIN, tenant)
    first = uuid.uuid4()
    await push(client, staff, "dash", [upsert("task", first, "dash", title="before")])
    ws = await connect(client, other)
    assert ws.protocol == "syncd.v1"
    catch_up = await until(ws, "caught_up")
    changes = [c for m in catch_up if m["type"] == "changes" for c in m["changes"]]
    assert [(c["entity"], c["id"]) for c in changes if c["entity"] == "task"] == [
        ("task", str(first))
    ]
    second = uuid.uuid4()
    await push(client, staff, "dash", [upsert("task", second, "dash", title="live")])
    live = await next_json(ws)
    assert live["type"] == "changes"
    # The new task and its "created" timeline entry, in one commit.
    assert [(c["entity"], c["version"]) for c in live["changes"]] == [
        ("task", 3),
        ("task_event", 4),
    ]
    assert live["changes"][0]["id"] == str(second)
    # Reconnecting from the last cursor: nothing is sent twice.
    await ws.close()
    again = await connect(client, other, cursor=live["cursor"])
    resumed = await until(again, "caught_up")
    assert [m for m in resumed if m["type"] == "changes"] == []
    await again.close()


async def test_push_over_the_socket_answers_like_http(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    ws = await connect(client, staff, client_id="tab")
    await until(ws, "caught_up")
    task_id = uuid.uuid4()
    body = {
        "client_id": "tab",
        "batch_id": "ws-1",
        "changes": [upsert("task", task_id, "tab", title="over ws")],
    }
    await ws.send_json({"type": "push", **body})
    messages = await until(ws, "push_result")
    result = messages[-1]
    assert result["batch_id"] == "ws-1"
    assert result["results"] == [{"id": str(task_id), "status": "applied", "version": 1}]
    http = await client.post("/sync/push", json=body, headers=staff.headers)
    assert {k: v for k, v in result.items() if k not in ("type", "batch_id")} == await http.json()
    await ws.send_json({"type": "push", "client_id": "tab"})
    bad = await until(ws, "error")
    assert bad[-1]["problem"]["code"] == "validation_failed"
    await ws.send_str("not json")
    assert (await until(ws, "error"))[-1]["problem"]["code"] == "malformed_json"
    await ws.close()


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


async def test_a_cursor_this_server_did_not_make_closes_with_4400(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    for cursor in ("not-a-cursor", "djEuYy4tNQ"):  # garbage; "v1.c.-5" encoded
        ws = await connect(client, staff, cursor=cursor)
        assert await closed_with(ws) == 4400


async def test_a_failing_stream_closes_with_1011_instead_of_going_silent(
    client: Any, app: web.Application, sessions: Sessions, monkeypatch: Any
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    sync = app[appkeys.SYNC]
    real_pull = sync.pull_in_scope

    async def failing_pull(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")  # an injected fault

    monkeypatch.setattr(sync, "pull_in_scope", failing_pull)
    ws = await connect(client, staff)
    assert await closed_with(ws) == 1011
    monkeypatch.setattr(sync, "pull_in_scope", real_pull)
    again = await connect(client, staff)  # reconnecting works once the cause is gone
    assert (await until(again, "caught_up"))[-1]["type"] == "caught_up"
    await again.close()


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


async def test_another_tenant_sees_nothing_live(client: Any, sessions: Sessions) -> None:
    mine = await signed_in(client, sessions, Role.STAFF)
    theirs = await signed_in(client, sessions, Role.ADMIN)
    crossed = await client.ws_connect(
        "/sync/ws",
        protocols=("syncd.v1", f"bearer.{theirs.access_token}"),
        headers={"X-Tenant": mine.tenant.slug},
    )
    await crossed.send_json({"type": "hello"})
    assert await closed_with(crossed) == 4403
    ws = await connect(client, theirs)
    caught = await until(ws, "caught_up")
    await push(client, mine, "m", [upsert("task", uuid.uuid4(), "m", title="secret")])
    marker = uuid.uuid4()
    await push(client, theirs, "t", [upsert("task", marker, "t", title="mine")])
    live = await next_json(ws)
    assert [c["id"] for c in live["changes"] if c["entity"] == "task"] == [str(marker)]
    # Tenant A's cursor presented to tenant B's stream reveals nothing of A.
    again = await connect(client, theirs, cursor=caught[-1]["cursor"])
    messages = await until(again, "caught_up")
    ids = {c["id"] for m in messages if m["type"] == "changes" for c in m["changes"]}
    assert ids <= {c["id"] for c in live["changes"]}  # only B's own task and its event
    await ws.close()
    await again.close()


async def test_slow_reader_is_closed_not_buffered(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    """A client that stops reading: the server stops reading the log, then closes 4429."""
    app: web.Application = create_app(
        make_settings(
            tmp_path,
            DATABASE_URL=database_url,
            WS_SEND_QUEUE="1",
            WS_SLOW_CLIENT_SECONDS="0.5",
            MAX_BODY_BYTES=str(8 * 1024 * 1024),
        )
    )
    client = await aiohttp_client(app)
    staff = await signed_in(client, sessions, Role.STAFF)
    for batch in range(8):  # about 5 MB of rows to stream
        await push(
            client,
            staff,
            "bulk",
            [
                upsert("task", uuid.uuid4(), "bulk", title="t", description="x" * 1200)
                for _ in range(500)
            ],
            batch_id=f"bulk-{batch}",
        )
    host, port = client.server.host, client.server.port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /sync/ws?token={staff.access_token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    hello = json.dumps({"type": "hello"}).encode()
    mask = os.urandom(4)
    sock.sendall(
        bytes([0x81, 0x80 | len(hello)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(hello))
    )
    live = app[appkeys.LIVE]
    try:
        for _ in range(int(WAIT * 20)):
            await asyncio.sleep(0.05)
            if len(live) == 0:
                break
        assert len(live) == 0, "the slow session is still open"
    finally:
        sock.close()


async def test_redis_hub_reaches_a_second_app(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    aiohttp_client: Any,
    sessions: Sessions,
) -> None:
    """Two app instances over one database and Redis behave as one server."""
    prefix = redis_prefix
    a = await aiohttp_client(
        create_app(
            make_settings(
                tmp_path / "a", DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_PREFIX=prefix
            )
        )
    )
    b = await aiohttp_client(
        create_app(
            make_settings(
                tmp_path / "b", DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_PREFIX=prefix
            )
        )
    )
    tenant = await make_tenant(sessions)
    on_a = await signed_in(a, sessions, Role.STAFF, tenant)
    ws = await connect(a, on_a)
    await until(ws, "caught_up")
    on_b = await signed_in(b, sessions, Role.STAFF, tenant)
    task_id = uuid.uuid4()
    await push(b, on_b, "b-dev", [upsert("task", task_id, "b-dev", title="via b")])
    live = await next_json(ws)
    assert [c["id"] for c in live["changes"] if c["entity"] == "task"] == [str(task_id)]
    await ws.close()


def test_client_library_is_aiohttp() -> None:
    assert aiohttp.__version__ >= "3.14"


async def test_many_dashboards_share_one_log_read_and_each_gets_every_change_once(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    # Twelve dashboards of three people (four each: under the per-user socket cap).
    people = [staff, *[await signed_in(client, sessions, Role.STAFF, tenant) for _ in range(2)]]
    sockets = [await connect(client, people[n % 3], client_id=f"dash-{n}") for n in range(12)]
    for ws in sockets:
        await until(ws, "caught_up")
    reads = count_log_reads(app)
    pushed = []
    for n in range(3):
        task_id = uuid.uuid4()
        pushed.append(str(task_id))
        await push(client, staff, "writer", [upsert("task", task_id, "writer", title=f"t{n}")])
    for ws in sockets:
        seen: list[dict[str, Any]] = []
        while len([c for c in seen if c["entity"] == "task"]) < 3:
            message = await next_json(ws)
            seen += message.get("changes", [])
        versions = [c["version"] for c in seen]
        assert versions == sorted(set(versions))  # in order, nothing twice
        assert [c["id"] for c in seen if c["entity"] == "task"] == pushed
        await ws.close()
    # Woken together, the sockets joined reads instead of each reading the log.
    # At most two feed reads per commit (a hint that arrives during a read wakes one
    # more), whatever the number of sockets.
    assert reads["own"] == 0
    assert 1 <= reads["feed"] <= 2 * len(pushed)


def count_log_reads(app: web.Application) -> dict[str, int]:
    """Count the sync service's reads of the log: a socket's own, and the feed's."""
    service = app[appkeys.SYNC]
    reads = {"own": 0, "feed": 0}
    own, feed = service.pull_in_scope, service.feed_page

    async def own_read(*args: Any, **kwargs: Any) -> Any:
        reads["own"] += 1
        return await own(*args, **kwargs)

    async def feed_read(*args: Any, **kwargs: Any) -> Any:
        reads["feed"] += 1
        return await feed(*args, **kwargs)

    service.pull_in_scope = own_read  # type: ignore[method-assign]
    service.feed_page = feed_read  # type: ignore[method-assign]
    return reads


async def test_technicians_follow_the_shared_feed_each_seeing_only_their_tasks(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    techs = [await signed_in(client, sessions, Role.TECHNICIAN, tenant) for _ in range(4)]
    tasks = [uuid.uuid4() for _ in techs]
    for tech, task_id in zip(techs, tasks, strict=True):
        assign = action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})
        await push(client, admin, "dash", [upsert("task", task_id, "dash", title="t"), assign])
    sockets = [await connect(client, tech, client_id=f"phone-{n}") for n, tech in enumerate(techs)]
    for ws in sockets:
        await until(ws, "caught_up")
    reads = count_log_reads(app)
    for round_ in range(3):
        for task_id in tasks:
            await push(client, admin, "dash", [upsert("task", task_id, "dash", title=f"r{round_}")])
    for ws, task_id in zip(sockets, tasks, strict=True):
        seen: list[dict[str, Any]] = []
        while len(seen) < 3:
            message = await next_json(ws)
            seen += message.get("changes", [])
        assert {c["id"] for c in seen} == {str(task_id)}  # nothing of the others' tasks
        assert [c["data"]["title"] for c in seen] == ["r0", "r1", "r2"]
    assert reads["own"] == 0  # every page came from the feed
    # An unassignment lets the technician go: their own read sends the removes.
    unassign = action(tasks[0], "unassign", "dash", fields={"user_id": str(techs[0].user_id)})
    await push(client, admin, "dash", [unassign])
    removed: list[dict[str, Any]] = []
    while not any(c["entity"] == "task" for c in removed):
        removed += [
            c for c in (await next_json(sockets[0])).get("changes", []) if c["op"] == "remove"
        ]
    assert reads["own"] >= 1
    for ws in sockets:
        await ws.close()
