"""A task's collaborative notes from the Python client: edited offline, read live.

The notes are a Yjs document (docs/protocol.md, "Collaborative notes"), text in
the root `Y.Text` named `notes`. `TaskNotes.edit` changes the device's copy and
queues the difference as a `ydoc` change in the outbox, so an edit made
offline is durable when it returns and reaches the server with the next push
(or over the live socket), merged by the CRDT with every other editor's: a
note never conflicts. `TaskNotes.fetch` opens `/sync/yjs/task:<id>:notes`,
exchanges the two sync steps and closes: the device's copy then holds
everyone's text, and the server has the device's edits as well (sending an
update twice is harmless). A device restarted before its push still shows its
own edits: the copy starts from the queued `ydoc` changes.
"""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from pycrdt import Doc, Text

from protocol import yprotocol as y
from protocol.changes import Op
from syncd_client.errors import ProblemError, TransientError
from syncd_client.session import Session
from syncd_client.store import LocalStore


class Host(Protocol):
    """What notes need of their client (syncd_client.client.SyncClient): its store's
    outbox and a way to queue a change in it, its session and its HTTP client."""

    store: LocalStore

    @property
    def session(self) -> Session: ...

    @property
    def http(self) -> aiohttp.ClientSession | None: ...

    def queue(self, entity: str, row_id: Any, op: Op, **extra: Any) -> Any: ...


FIELD = "notes"
SUBPROTOCOL = "syncd.yjs"
REFUSED = {4403: "forbidden", 4404: "not_found", 4413: "document_too_large"}


class TaskNotes:
    """One task's notes on this device."""

    def __init__(self, client: Host, task_id: uuid.UUID | str) -> None:
        self.client = client
        self.task_id = uuid.UUID(str(task_id))
        self.document = f"task:{self.task_id}:{FIELD}"
        # 32-bit client ids, as JavaScript Yjs and the server use (FIELD-NOTES.md).
        self.doc: Doc[Any] = Doc(client_id=random.getrandbits(32))
        self._text = self.doc.get(FIELD, type=Text)
        for change in client.store.pending("task", self.task_id):
            if change.get("op") == "ydoc" and change.get("fields", {}).get("field") == FIELD:
                self.doc.apply_update(base64.b64decode(change["update"]))

    @property
    def text(self) -> str:
        return str(self._text)

    def edit(self, change: Callable[[Text], None]) -> None:
        """Apply `change` to the text (insert, delete, ...) and queue it for the server."""
        before = self.doc.get_state()
        with self.doc.transaction():
            change(self._text)
        update = self.doc.get_update(before)
        self.client.queue(
            "task",
            self.task_id,
            Op.YDOC,
            fields={"field": FIELD},
            update=base64.b64encode(update).decode(),
        )

    async def fetch(self, timeout_s: float = 10.0) -> str:
        """Sync with the server's document once; answers the merged text."""
        http = self.client.http
        if http is None:
            raise RuntimeError("the client is not started; use it with 'async with'")
        token = await self.client.session.access_token()
        transport = self.client.session.transport
        try:
            ws = await asyncio.wait_for(
                http.ws_connect(
                    transport.ws_url(f"/sync/yjs/{self.document}"),
                    protocols=(SUBPROTOCOL, f"bearer.{token}"),
                    headers=transport.headers(),
                ),
                timeout_s,
            )
        except aiohttp.WSServerHandshakeError as exc:
            problem = {"code": f"http_{exc.status}", "detail": exc.message}
            if exc.status >= 500:
                raise TransientError(f"opening the notes failed: {exc.status}") from exc
            raise ProblemError(exc.status, problem) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"opening the notes: {type(exc).__name__}: {exc}") from exc
        try:
            await asyncio.wait_for(self._exchange(ws), timeout_s)
        finally:
            await ws.close()
        return self.text

    async def _exchange(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        await ws.send_bytes(y.sync_step1(self.doc.get_state()))
        while True:
            message = await ws.receive()
            if message.type is not aiohttp.WSMsgType.BINARY:
                code = ws.close_code or 1006
                if code in REFUSED:  # docs/protocol.md: stop, do not reconnect
                    problem = {"code": REFUSED[code], "detail": f"the notes socket closed {code}"}
                    raise ProblemError(code - 4000, problem)
                raise TransientError(f"the notes socket closed ({code})")
            frame = y.decode(message.data)
            if not isinstance(frame, y.SyncMessage):
                continue  # awareness: not kept by this client
            if frame.kind is y.SyncType.STEP1:  # what the server lacks: our edits
                await ws.send_bytes(y.sync_step2(self.doc.get_update(frame.payload)))
                continue
            self.doc.apply_update(frame.payload)
            if frame.kind is y.SyncType.STEP2:  # the server's answer to our step 1
                return
