"""One y-websocket connection to a room: the handler reads, a sender writes.

The handler task is the only reader of the socket. The room relays by
`deliver` (never waits): a frame is written at once when nothing is waiting
before it and the socket's write buffer is empty (so aiohttp writes it
without waiting for the reader: no task wakes per receiver per update);
otherwise it joins a bounded queue that a sender task drains. A peer whose
queue is full is closed with 4429 and its client reconnects and resyncs with
step 1 / step 2. An expiry task closes the socket with 4401 when the token
runs out. All three are owned by the session and awaited at its end: the
skeleton (close requests, the order tasks stop in, the socket caps) is the
WebSocket kit's, syncd/sockets/owned.py, shared with /sync/ws.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from aiohttp import WSMsgType, web

from protocol import yprotocol
from protocol.yprotocol import AwarenessMessage, QueryAwarenessMessage, SyncMessage, SyncType
from syncd.auth.principal import Principal
from syncd.sockets.close import Close, Refused
from syncd.sockets.owned import OwnedSocket
from syncd.yjs.rooms import AwarenessRefused, DocumentTooLarge, Room, Rooms

log = structlog.get_logger("syncd.yjs")


class YjsSession(OwnedSocket):
    kind = "yjs"

    def __init__(
        self, request: web.Request, ws: web.WebSocketResponse, rooms: Rooms, queue_size: int
    ) -> None:
        super().__init__(request, ws)
        self.rooms = rooms
        self.awareness_clients: set[int] = set()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._sending = False  # the sender task holds a frame it has not finished writing
        self.room: Room | None = None
        self.user_id: uuid.UUID | None = None  # the rooms' per-user cap counts by it

    def deliver(self, frame: bytes) -> None:
        if not self._sending and self.queue.empty() and self._writes_at_once():
            self._write_now(frame)
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.request_close(Close.TOO_SLOW, "too slow; reconnect")

    def _writes_at_once(self) -> bool:
        """Whether a send would not wait: aiohttp waits only while the transport is
        paused for flow control, and a transport with an empty buffer is not."""
        transport = self.request.transport
        return (
            not self.ws.closed
            and transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size() == 0
        )

    def _write_now(self, frame: bytes) -> None:
        """Send `frame` without a task: run aiohttp's send to its end right here."""
        sending = self.ws.send_bytes(frame)
        try:
            sending.send(None)
        except StopIteration:
            return
        except Exception:  # the connection is going: the reader sees it end
            self.request_close(Close.SERVER_ERROR, "send failed")
            return
        # It waited after all (an aiohttp that waits otherwise): whether the frame
        # went out is unknown, so the client reconnects and resyncs.
        sending.close()
        self.request_close(Close.TOO_SLOW, "too slow; reconnect")

    async def run(self, who: Principal, name: str) -> None:
        """Join the room, sync, then serve until the socket or a close request ends it."""
        self.who, self.user_id = who, who.user_id
        try:
            try:
                self.room = await self.rooms.join(who.tenant_id, name, self)
            except RuntimeError:
                raise Refused(Close.RESTART, "server restarting; reconnect") from None
            except Exception:
                log.exception("yjs room failed to load", document=name)
                raise Refused(Close.SERVER_ERROR, "document unavailable; retry") from None
            self.deliver(self.room.sync_step1())
            awareness = self.room.awareness_frame()
            if awareness is not None:
                self.deliver(awareness)
            await self.serve(self._reader(), sender=self._sender(), expiry=self.expiry())
        finally:
            if self.room is not None:
                self.rooms.leave(self.room, self)
            self.finished.set()

    async def _reader(self) -> None:
        while not self.ws.closed:
            message = await self.ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if message.type is WSMsgType.ERROR:
                return  # aiohttp already closed it (1009 for a frame too big)
            if message.type is not WSMsgType.BINARY:
                self.request_close(Close.PROTOCOL, "send binary y-protocols frames")
                return
            try:
                await self._handle(message.data)
            except (DocumentTooLarge, AwarenessRefused) as exc:
                log.info("yjs frame refused", reason=str(exc), user_id=str(self.user_id))
                self.request_close(Close.TOO_LARGE, f"too large: {exc}"[:120])
                return
            except ValueError as exc:  # FrameError, UpdateError, or pycrdt refusing it
                log.info("yjs frame malformed", reason=str(exc), user_id=str(self.user_id))
                self.request_close(Close.PROTOCOL, f"malformed message: {exc}"[:120])
                return
            except Exception:
                log.exception("yjs update could not be stored")
                self.request_close(Close.SERVER_ERROR, "update not stored; reconnect")
                return

    async def _handle(self, frame: bytes) -> None:
        assert self.room is not None
        message = yprotocol.decode(frame)
        if isinstance(message, SyncMessage):
            if message.kind is SyncType.STEP1:
                self.deliver(self.room.sync_step2(message.payload))
            else:
                await self.room.receive_update(self, message.payload)
        elif isinstance(message, AwarenessMessage):
            await self.room.receive_awareness(self, message.payload)
        elif isinstance(message, QueryAwarenessMessage):
            awareness = self.room.awareness_frame()
            if awareness is not None:
                self.deliver(awareness)
        # an auth message from a client means nothing to the server

    async def _sender(self) -> None:
        while not self.ws.closed:
            frame = await self.queue.get()
            self._sending = True
            try:
                await self.ws.send_bytes(frame)
            finally:
                self._sending = False
