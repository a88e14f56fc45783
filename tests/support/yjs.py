"""Helpers for tests of /sync/yjs: a Python y-websocket editor, tasks, `ydoc` changes."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType
from pycrdt import Text

from protocol import yprotocol as y
from storage import ydoc_store
from tests.support.factories import Account
from tests.support.sync import hlc, push, upsert

WAIT = 10.0


class Editor:
    """A Python y-websocket client: a pycrdt document synced over one socket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.doc = ydoc_store.new_doc()
        self.text = self.doc.get("notes", type=Text)
        self.awareness: list[bytes] = []
        self.synced = False

    async def handle_next(self) -> None:
        message = await asyncio.wait_for(self.ws.receive(), WAIT)
        assert message.type is WSMsgType.BINARY, (message.type, message.data, message.extra)
        frame = y.decode(message.data)
        if isinstance(frame, y.SyncMessage):
            if frame.kind is y.SyncType.STEP1:
                await self.ws.send_bytes(y.sync_step2(self.doc.get_update(frame.payload)))
            else:
                self.doc.apply_update(frame.payload)
                self.synced = self.synced or frame.kind is y.SyncType.STEP2
        elif isinstance(frame, y.AwarenessMessage):
            self.awareness.append(frame.payload)

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.handle_next()

    async def sync(self) -> None:
        await self.ws.send_bytes(y.sync_step1(self.doc.get_state()))
        await self.until(lambda: self.synced)  # the server's step 2 answering ours

    async def insert(self, index: int, piece: str) -> None:
        state = self.doc.get_state()
        self.text.insert(index, piece)
        await self.ws.send_bytes(y.sync_update(self.doc.get_update(state)))


async def open_editor(client: Any, account: Account, name: str, *, sync: bool = True) -> Editor:
    ws = await client.ws_connect(f"/sync/yjs/{name}?token={account.access_token}")
    editor = Editor(ws)
    if sync:
        await editor.sync()
    return editor


async def closed_with(ws: Any) -> int:
    message = await asyncio.wait_for(ws.receive(), WAIT)
    while message.type is WSMsgType.BINARY:
        message = await asyncio.wait_for(ws.receive(), WAIT)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
    return int(message.data if message.type is WSMsgType.CLOSE else ws.close_code)


async def new_task(client: Any, account: Account) -> uuid.UUID:
    task_id = uuid.uuid4()
    await push(client, account, "dash", [upsert("task", task_id, "dash", title="notes")])
    return task_id


def ydoc_change(task_id: uuid.UUID, update: bytes) -> dict[str, Any]:
    return {
        "entity": "task",
        "id": str(task_id),
        "op": "ydoc",
        "fields": {"field": "notes"},
        "update": base64.b64encode(update).decode(),
        "hlc": hlc("phone"),
        "base_version": 0,
    }
