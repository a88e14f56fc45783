"""How the client reads failures syncd does not make on demand (a 503 with
Retry-After, a body that is not JSON, a refused upgrade): a small real HTTP
server on loopback plays them."""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from syncd_client import (
    AuthenticationRequired,
    GaveUp,
    LocalStore,
    ProblemError,
    ProtocolViolation,
    RetryPolicy,
    SyncClient,
    Tokens,
    TransientError,
)
from syncd_client.session import Session
from syncd_client.transport import Transport

FAST = RetryPolicy(base_s=0.001, cap_s=0.002, max_attempts=4)


def problem(status: int, code: str, **headers: str) -> web.Response:
    body = {"type": f"urn:syncd:problem:{code}", "status": status, "code": code, "detail": code}
    return web.json_response(body, status=status, headers=headers)


def flaky_app() -> web.Application:
    hits: Counter[str] = Counter()
    routes = web.RouteTableDef()

    @routes.get("/problem")
    async def refused(_: web.Request) -> web.Response:
        return problem(404, "not_found")

    @routes.get("/busy")
    async def busy(_: web.Request) -> web.Response:
        return problem(503, "unavailable", **{"Retry-After": "2"})

    @routes.get("/busy-until")
    async def busy_until(_: web.Request) -> web.Response:
        return problem(429, "slow_down", **{"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})

    @routes.get("/text")
    async def text(_: web.Request) -> web.Response:
        return web.Response(text="<html>a proxy page</html>", status=502)

    @routes.get("/list")
    async def listing(_: web.Request) -> web.Response:
        return web.json_response([1, 2])

    @routes.get("/flaky")
    async def flaky(_: web.Request) -> web.Response:
        hits["flaky"] += 1
        if hits["flaky"] <= 2:
            return problem(503, "unavailable")
        return web.json_response({"ok": True})

    @routes.get("/locked")
    async def locked(_: web.Request) -> web.Response:
        return problem(401, "session_revoked")

    @routes.post("/auth/refresh")
    async def refresh(_: web.Request) -> web.Response:
        hits["refresh"] += 1
        return web.json_response(
            {"access_token": f"a{hits['refresh']}", "refresh_token": "r", "expires_in": 900}
        )

    @routes.post("/sync/push")
    async def push(_: web.Request) -> web.Response:
        return web.json_response({"results": "not a list"})

    @routes.get("/sync/pull")
    async def pull(_: web.Request) -> web.Response:
        return web.json_response({"changes": [{"op": "teleport"}], "cursor": "c"})

    @routes.get("/sync/ws")
    async def upgrade(request: web.Request) -> web.StreamResponse:
        tenant = request.headers.get("X-Tenant", "t-404")
        if tenant.startswith("t-"):
            status = int(tenant.removeprefix("t-"))
            return problem(status, f"http_{status}")
        return await misbehave(request, tenant.removeprefix("ws-"))

    app = web.Application()
    app.add_routes(routes)
    return app


async def misbehave(request: web.Request, how: str) -> web.WebSocketResponse:
    """A socket that says hello back in one of the ways a client must survive."""
    ws = web.WebSocketResponse(protocols=["syncd.v1"])
    await ws.prepare(request)
    await ws.receive()  # the hello
    if how.startswith("close"):
        await ws.close(code=int(how.removeprefix("close")))
    elif how == "binary":
        await ws.send_bytes(b"\x00")
    elif how == "garbage":
        await ws.send_str("{not json")
    elif how == "error":
        await ws.send_json({"type": "error", "problem": {"code": "unknown_message"}})
    elif how == "badpage":
        await ws.send_json({"type": "changes", "changes": [{"op": "teleport"}], "cursor": "c"})
    elif how == "refuse":
        push = await ws.receive_json()
        refused = {"status": 403, "code": "client_id_taken"}
        await ws.send_json(
            {"type": "push_result", "batch_id": push["batch_id"], "problem": refused}
        )
    await ws.receive()  # until the client hangs up
    return ws


@pytest.fixture
async def server(aiohttp_server: Any) -> str:
    running = await aiohttp_server(flaky_app())
    return str(running.make_url("/"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_problem_is_a_problem_error(server: str, http: aiohttp.ClientSession) -> None:
    with pytest.raises(ProblemError) as raised:
        await Transport(server, "demo", http).request("GET", "/problem")
    assert (raised.value.status, raised.value.code) == (404, "not_found")


async def test_503_and_429_are_transient_with_retry_after(
    server: str, http: aiohttp.ClientSession
) -> None:
    transport = Transport(server, "demo", http)
    with pytest.raises(TransientError) as busy:
        await transport.request("GET", "/busy")
    assert busy.value.retry_after_s == 2
    with pytest.raises(TransientError) as dated:
        await transport.request("GET", "/busy-until")
    assert dated.value.retry_after_s is None  # an HTTP date: our own back-off decides


async def test_bodies_that_are_not_json_objects(server: str, http: aiohttp.ClientSession) -> None:
    transport = Transport(server, "demo", http)
    with pytest.raises(TransientError, match="502"):
        await transport.request("GET", "/text")
    with pytest.raises(ProtocolViolation):
        await transport.request("GET", "/list")


async def test_a_refused_connection_is_transient(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="ClientConnectorError"):
        await Transport(f"http://127.0.0.1:{port}", "demo", http).request("GET", "/")


def session(server: str, http: aiohttp.ClientSession, tmp_path: Path) -> Session:
    store = LocalStore(tmp_path / "d.db", "dev-a")
    store.save_tokens(Tokens("a0", "r0", 1e12))
    return Session(
        Transport(server, "demo", http),
        store,
        retry=FAST,
        rng=random.Random(1),
        stats=Counter(),
    )


async def test_a_signed_in_call_retries_transient_failures(
    server: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    calls = session(server, http, tmp_path)
    assert await calls.call("GET", "/flaky") == {"ok": True}
    assert calls.stats["retries"] == 2
    assert calls.last_failure is not None
    with pytest.raises(GaveUp):
        await calls.call("GET", "/busy-until")
    calls.store.close()


async def test_a_token_refused_again_and_again_ends_the_session(
    server: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    calls = session(server, http, tmp_path)
    with pytest.raises(AuthenticationRequired, match="session_revoked"):
        await calls.call("GET", "/locked")
    assert calls.stats["refreshes"] == 2
    calls.store.close()


async def client(server: str, tmp_path: Path, tenant: str = "demo") -> SyncClient:
    store = LocalStore(tmp_path / f"{tenant}.db", "dev-a")
    store.save_tokens(Tokens("a0", "r0", 1e12))
    return await SyncClient(server, tenant, store, retry=FAST).start()


async def test_answers_that_do_not_validate_are_protocol_violations(
    server: str, tmp_path: Path
) -> None:
    device = await client(server, tmp_path)
    try:
        device.create("task", {"title": "t"})
        with pytest.raises(ProtocolViolation, match="push answer"):
            await device.push()
        with pytest.raises(ProtocolViolation, match="pull page"):
            await device.pull()
        with pytest.raises(RuntimeError, match="already started"):
            await device.start()
    finally:
        await device.close()


@pytest.mark.parametrize(
    ("status", "error"), [(403, ProblemError), (503, GaveUp), (401, AuthenticationRequired)]
)
async def test_a_refused_upgrade_stops_or_retries(
    server: str, tmp_path: Path, status: int, error: type[Exception]
) -> None:
    device = await client(server, tmp_path, tenant=f"t-{status}")
    try:
        with pytest.raises(error):
            await asyncio.wait_for(device.run_live(), 10)
    finally:
        await device.close()


async def test_an_unstarted_client_says_so(tmp_path: Path) -> None:
    device = SyncClient("http://127.0.0.1:9", "demo", LocalStore(tmp_path / "d.db", "dev-a"))
    with pytest.raises(RuntimeError, match="start the client"):
        await device.pull()
    await device.close()


@pytest.mark.parametrize(
    ("how", "error", "message"),
    [
        ("close4403", ProblemError, "forbidden"),
        ("close4400", ProtocolViolation, "4400"),
        ("close1012", GaveUp, "4 attempts"),
        ("binary", ProtocolViolation, "BINARY"),
        ("garbage", ProtocolViolation, "not JSON"),
        ("error", ProtocolViolation, "unknown_message"),
        ("badpage", ProtocolViolation, "changes frame"),
        ("refuse", ProblemError, "client_id_taken"),
    ],
)
async def test_how_a_live_socket_ends_decides_what_the_client_does(
    server: str, tmp_path: Path, how: str, error: type[Exception], message: str
) -> None:
    device = await client(server, tmp_path, tenant=f"ws-{how}")
    device.create("task", {"title": "t"})
    try:
        with pytest.raises(error, match=message):
            await asyncio.wait_for(device.run_live(), 10)
    finally:
        await device.close()
