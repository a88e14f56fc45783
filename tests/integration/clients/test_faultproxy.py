"""The fault-injecting proxy of the fleet simulation (tests/support/faultproxy.py)."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from tests.support.faultproxy import FaultProxy, Faults


def echo_app(handled: Counter[str]) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()  # a cut request fails here
        handled["echo"] += 1
        return web.Response(body=body)

    async def socket_echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/ws", socket_echo)
    return app


@pytest.fixture
async def upstream(aiohttp_server: Any) -> tuple[int, Counter[str]]:
    handled: Counter[str] = Counter()
    server = await aiohttp_server(echo_app(handled))
    return server.port, handled


async def post(port: int, body: bytes) -> bytes:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/echo", data=body) as response,
    ):
        return await response.read()


async def test_without_faults_every_byte_goes_through(upstream: tuple[int, Counter[str]]) -> None:
    port, handled = upstream
    async with FaultProxy(port) as proxy:
        for size in (1, 1_000, 300_000):
            assert await post(proxy.port, b"x" * size) == b"x" * size
    assert handled["echo"] == 3
    assert proxy.injected == 0
    assert proxy.counts["connections"] >= 1


async def test_a_cut_mid_request_never_reaches_the_handler(
    upstream: tuple[int, Counter[str]],
) -> None:
    port, handled = upstream
    async with FaultProxy(port, Faults(drop_request=1.0), seed=1) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await post(proxy.port, b"payload")
    assert proxy.counts["dropped_request"] == 1
    assert handled["echo"] == 0


async def test_a_cut_mid_response_comes_after_the_work(upstream: tuple[int, Counter[str]]) -> None:
    port, handled = upstream
    async with FaultProxy(port, Faults(drop_response=1.0), seed=2) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await post(proxy.port, b"payload")
    assert proxy.counts["dropped_response"] == 1
    assert handled["echo"] == 1  # the server did it; the client never heard


async def test_delays_slow_but_deliver(upstream: tuple[int, Counter[str]]) -> None:
    port, _ = upstream
    async with FaultProxy(port, Faults(delay=1.0, max_delay_s=0.01), seed=3) as proxy:
        assert await post(proxy.port, b"late") == b"late"
    assert proxy.counts["delayed"] >= 2
    assert proxy.injected == proxy.counts["delayed"]


async def test_a_websocket_is_cut_after_a_while(upstream: tuple[int, Counter[str]]) -> None:
    port, _ = upstream
    async with (
        FaultProxy(port, Faults(ws_cut=1.0, ws_max_life_s=0.3), seed=4) as proxy,
        aiohttp.ClientSession() as http,
        http.ws_connect(f"http://127.0.0.1:{proxy.port}/ws") as ws,
    ):
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "hello"
        message = await ws.receive(timeout=5)
        assert message.type in (WSMsgType.CLOSED, WSMsgType.CLOSE, WSMsgType.ERROR)
    assert proxy.counts["ws_cut"] == 1


async def test_a_server_that_is_down_resets_connections() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with FaultProxy(closed_port) as proxy:
        with pytest.raises(aiohttp.ClientError):
            await post(proxy.port, b"anyone?")
    assert proxy.counts["upstream_refused"] == 1
    assert proxy.injected == 0  # the server being down is not a fault the proxy made
