"""Live sync over WebSocket (GET /sync/ws) through the real app and databases: what
the socket streams: catch-up then live changes in order, a push over the socket
answered like HTTP, another tenant seeing nothing, a second app reached through
the Redis hub, and the closes when the stream cannot go on (unknown cursor,
failing stream, slow reader).
"""

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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd import appkeys
from syncd.app import create_app
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import push, upsert
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
