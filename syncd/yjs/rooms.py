"""Yjs rooms: one live document per (tenant, document name) in this process.

`Rooms` is the registry session.py talks to: `join` loads a room
(syncd.yjs.room) with a peer in it, `leave` drops the peer and unloads the
room (compacting it) when its last peer left. It owns every task its rooms
start, the live rooms' writes (storage.ydoc_live) and the relay between
processes (syncd.yjs.relay): on close it lets unloads finish their compaction
briefly, then cancels and awaits the rest. Updates pushed offline through
POST /sync/push (already stored in the push transaction) arrive by `notify`
and take the same relay path.

The per-user cap is the socket kit's (syncd.sockets.caps.UserSockets, as on
/sync/ws): counted by when sockets connected, past `max_per_user` the oldest
closes (4409).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yprotocol
from storage.ydoc_live import LiveWrites
from storage.ydoc_store import DocumentTooLarge
from syncd.pubsub import PubSub
from syncd.sockets.caps import UserSockets
from syncd.sockets.close import Close
from syncd.yjs.awareness import AwarenessRefused
from syncd.yjs.relay import AWARENESS, UPDATE, Relay
from syncd.yjs.room import Peer, Room

FRAME_OVERHEAD = 16  # message type, sync type and length prefix of a frame
Key = tuple[uuid.UUID, str]

__all__ = ["AwarenessRefused", "DocumentTooLarge", "Room", "Rooms"]


class Rooms:
    """Every room of this process, the Redis relay and the tasks they own."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pubsub: PubSub | None = None,
        max_per_user: int = 32,
        max_frame_bytes: int = 1024 * 1024,
    ) -> None:
        self.sessions = sessions
        self.writes = LiveWrites(sessions)
        self.relay = Relay(pubsub)
        self.max_per_user = max_per_user
        self.max_document_bytes = max_frame_bytes - FRAME_OVERHEAD
        self.users: UserSockets[Peer] = UserSockets("too many editing sockets for this user")
        self._rooms: dict[Key, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._rooms)

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, tenant_id: uuid.UUID, name: str) -> Room | None:
        return self._rooms.get((tenant_id, name))

    def own(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        if self._closed:
            work.close()
            raise RuntimeError("the Yjs rooms are closed")
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def join(self, tenant_id: uuid.UUID, name: str, peer: Peer) -> Room:
        """The loaded room for a document, with `peer` in it."""
        if self._closed:
            raise RuntimeError("the Yjs rooms are closed")
        room = self._rooms.get((tenant_id, name))
        if room is None:
            room = self._rooms[(tenant_id, name)] = Room(self, tenant_id, name)
        room.peers.add(peer)
        self._count_in(tenant_id, peer)
        try:
            await room.load()
        except BaseException:
            self.leave(room, peer)
            raise
        return room

    def _count_in(self, tenant_id: uuid.UUID, peer: Peer) -> None:
        """Past `max_per_user` sockets of the peer's user, close the oldest (4409):
        an editor whose connection died silently can always reconnect."""
        if peer.user_id is not None:
            self.users.add((tenant_id, peer.user_id), peer, self.max_per_user)

    def leave(self, room: Room, peer: Peer) -> None:
        if peer.user_id is not None:
            self.users.discard((room.tenant_id, peer.user_id), peer)
        room.forget(peer)
        if not room.peers and not self._closed:
            self.own(self._unload(room), f"yjs-unload-{room.name}")

    async def _unload(self, room: Room) -> None:
        if room.loaded:
            await room.compact()
        key = (room.tenant_id, room.name)
        if not room.peers and self._rooms.get(key) is room:
            del self._rooms[key]

    async def notify(self, tenant_id: uuid.UUID, name: str, update: bytes) -> None:
        """An update stored elsewhere in this process (a push): to live editors everywhere."""
        room = self._rooms.get((tenant_id, name))
        if room is not None:
            room.apply(update)
        await self.publish(tenant_id, name, UPDATE + update)

    # --- between processes (syncd.yjs.relay) ---------------------------------------

    async def publish(self, tenant_id: uuid.UUID, name: str, body: bytes) -> None:
        await self.relay.publish(tenant_id, name, body)

    def relayed(self, tenant_id: uuid.UUID, name: str, kind: bytes, payload: bytes) -> None:
        """An update or awareness update from another process (ValueError if malformed)."""
        room = self._rooms.get((tenant_id, name))
        if room is None:
            return  # not open here: the store has it for whoever opens it
        if kind == UPDATE:
            room.apply(payload)
        elif kind == AWARENESS:
            room.track_awareness(yprotocol.decode_awareness(payload))
            room.broadcast(yprotocol.awareness(payload))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rooms]:
        """Take the relay's messages and own every room task for the app's life."""
        await self.relay.start(self.relayed)
        try:
            yield self
        finally:
            self.relay.stop()
            await self.close()

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        """Close a deactivated user's editing sockets (4403). Answers how many."""
        peers = [
            peer
            for room in list(self._rooms.values())
            if room.tenant_id == tenant_id
            for peer in list(room.peers)
            if peer.user_id == user_id
        ]
        for peer in peers:
            peer.request_close(Close.FORBIDDEN, "user deactivated")
        return len(peers)

    async def close_peers(self, code: int, message: str) -> None:
        """Ask every socket to close (server shutdown) and wait for them."""
        peers = [peer for room in list(self._rooms.values()) for peer in list(room.peers)]
        for peer in peers:
            peer.request_close(code, message)
        if peers:
            waits = [asyncio.ensure_future(peer.finished.wait()) for peer in peers]
            await asyncio.wait(waits, timeout=10)
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def close(self) -> None:
        """Let unloads finish their compaction briefly, then cancel and await the rest."""
        self._closed = True
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._rooms.clear()
        await self.writes.close()
