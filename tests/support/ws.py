"""Helpers for tests of /sync/ws: connect with hello, read frames, read the close code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType

from tests.support.factories import Account

WAIT = 10.0


async def next_json(ws: Any) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive(), WAIT)
    assert message.type is WSMsgType.TEXT, (message.type, message.data, message.extra)
    data: dict[str, Any] = json.loads(message.data)
    return data


async def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    """Every message up to and including the first of `kind`."""
    seen = []
    while True:
        message = await next_json(ws)
        seen.append(message)
        if message["type"] == kind:
            return seen


async def closed_with(ws: Any) -> int:
    message = await asyncio.wait_for(ws.receive(), WAIT)
    while message.type is WSMsgType.TEXT:
        message = await asyncio.wait_for(ws.receive(), WAIT)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
    if message.type is WSMsgType.CLOSE:
        return int(message.data)
    return int(ws.close_code)


async def connect(
    client: Any, account: Account, cursor: str | None = None, client_id: str = "phone"
) -> Any:
    ws = await client.ws_connect(
        "/sync/ws", protocols=("syncd.v1", f"bearer.{account.access_token}")
    )
    await ws.send_json({"type": "hello", "client_id": client_id, "cursor": cursor})
    return ws
