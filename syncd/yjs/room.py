"""A Yjs room: one live document of this process and the sockets editing it.

A room holds a pycrdt document loaded from the store, the sockets editing it
(peers) and their awareness states (syncd.yjs.awareness). The hooks run in
order for each update a peer sends: validate (a scratch document), store,
apply to the room's document, relay to the other peers, publish to the other
processes (syncd.yjs.relay). Storing is a group commit: the updates that
arrive while a store is in flight are stored together in the next write
(storage.ydoc_live, one round trip on PostgreSQL), so an update is durable
before anyone else sees it and a fast sender is not held to one write per
update. A failed store closes the peers whose updates it held (1011, so their
clients resend on reconnect) and keeps the document loaded.

Bounds (docs/protocol.md): every update and state vector is read whole by
protocol.yupdate before pycrdt sees it; a document grows to at most
`max_document_bytes` (its whole state fits one frame), an update past that is
refused with `DocumentTooLarge` (close 4413). Relayed frames are merged only
up to the document limit.

Compaction folds the stored updates into the snapshot once a room has stored
COMPACT_AFTER_UPDATES updates or COMPACT_AFTER_BYTES, and when the room
unloads (its last peer left); it is serialised per document by the room's lock
(and across processes by a row lock in storage.ydoc_store). Its tasks are
owned by the room's `Rooms` (syncd.yjs.rooms).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, Protocol

import structlog
from pycrdt import merge_updates
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yprotocol, yupdate
from protocol.yprotocol import AwarenessEntry
from storage import ydoc_store
from storage.unit_of_work import TenantUnitOfWork
from storage.ydoc_live import LiveWrites
from storage.ydoc_replica import Replica
from storage.ydoc_store import DocumentTooLarge
from syncd.sockets.close import Close
from syncd.yjs import awareness
from syncd.yjs.relay import AWARENESS, UPDATE


class Host(Protocol):
    """What a room needs of the registry that owns it (syncd.yjs.rooms.Rooms)."""

    sessions: async_sessionmaker[AsyncSession]
    writes: LiveWrites
    max_document_bytes: int

    @property
    def closed(self) -> bool: ...

    def own(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]: ...

    async def publish(self, tenant_id: uuid.UUID, name: str, body: bytes) -> None: ...


log = structlog.get_logger("syncd.yjs")

COMPACT_AFTER_UPDATES = 200
COMPACT_AFTER_BYTES = 256 * 1024
EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions
MAX_PENDING = 256  # updates waiting for the room's next store (group commit)
CLOSE_NOT_STORED = Close.SERVER_ERROR
Checked = tuple[bytes, dict[int, int]]  # an update and its struct ends (protocol.yupdate)

__all__ = ["DocumentTooLarge", "Peer", "Room"]


class Peer(Protocol):
    """A socket in a room (syncd.yjs.routes.YjsSession)."""

    awareness_clients: set[int]
    finished: asyncio.Event
    user_id: uuid.UUID | None
    opened: int  # when the socket connected (a per-process sequence number)
    superseded: bool  # closed by a newer socket of its user (the per-user cap)

    def request_close(self, code: int, message: str) -> None: ...

    def deliver(self, frame: bytes) -> None:
        """Queue a frame for the socket without waiting (a peer too slow closes itself)."""
        ...


def _merge(group: list[Checked]) -> Checked:
    ends: dict[int, int] = {}
    for _, part in group:
        for client, end in part.items():
            ends[client] = max(ends.get(client, 0), end)
    return merge_updates(*(update for update, _ in group)), ends


class Room:
    def __init__(self, rooms: Host, tenant_id: uuid.UUID, name: str) -> None:
        self.rooms = rooms
        self.tenant_id = tenant_id
        self.name = name
        self.doc = ydoc_store.new_doc()
        self.replica = Replica(self.doc)  # pycrdt needs it for updates out of order
        self.peers: set[Peer] = set()
        self.awareness: dict[int, AwarenessEntry] = {}
        self.loaded = False
        self.lock = asyncio.Lock()  # loading and compaction take turns
        self.stored_updates = 0
        self.stored_bytes = 0
        self.compacting: asyncio.Task[None] | None = None
        self.pending: list[tuple[Peer, bytes, dict[int, int]]] = []
        self.room_for_pending = asyncio.Semaphore(MAX_PENDING)
        self.writer: asyncio.Task[None] | None = None
        # At least the document's encoded size: its size when measured, plus every
        # update applied or waiting since (updates overlap, so it only overstates).
        self.size = 0

    # --- reading ---------------------------------------------------------------------

    def sync_step1(self) -> bytes:
        return yprotocol.sync_step1(self.doc.get_state())

    def sync_step2(self, state_vector: bytes) -> bytes:
        """What a peer with `state_vector` is missing (ValueError if it is not one)."""
        yupdate.check_state_vector(state_vector)
        return yprotocol.sync_step2(self.doc.get_update(state_vector))

    def awareness_frame(self) -> bytes | None:
        if not self.awareness:
            return None
        return yprotocol.awareness(yprotocol.encode_awareness(list(self.awareness.values())))

    # --- writing ---------------------------------------------------------------------

    async def receive_update(self, peer: Peer, update: bytes) -> None:
        """A peer's update: validate it now; store, apply, relay and publish it soon.

        Group commit: the update joins the room's pending list and the caller
        goes on reading its socket; the room's writer stores everything pending
        in one transaction (in arrival order), then applies and relays it as one
        merged update. Nothing is relayed before it is stored. At most MAX_PENDING
        updates wait per room: a peer sending faster than the store waits here.
        """
        if update == EMPTY_UPDATE:
            return
        ends = ydoc_store.validate(update)  # ValueError: the session closes the peer
        self._make_room_for(update)
        await self.room_for_pending.acquire()
        self.pending.append((peer, update, ends))
        if self.writer is None:
            self.writer = self.rooms.own(self._store_pending(), f"yjs-store-{self.name}")

    def _make_room_for(self, update: bytes) -> None:
        """DocumentTooLarge unless the document stays within its limit with `update`."""
        limit = self.rooms.max_document_bytes
        if self.size + len(update) <= limit:
            self.size += len(update)
            return
        pending = sum(len(waiting) for _, waiting, _ in self.pending)
        self.size = len(self.doc.get_update()) + pending  # measure instead of estimating
        if self.size + len(update) > limit:
            raise DocumentTooLarge(limit)
        self.size += len(update)

    async def _store_pending(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await self.rooms.writes.append(
                        self.tenant_id, self.name, [u for _, u, _ in batch]
                    )
                except Exception:
                    # Not stored, so relayed to no one: the senders reconnect and resend.
                    log.exception("yjs updates could not be stored", document=self.name)
                    for peer in {peer for peer, _, _ in batch}:
                        peer.request_close(CLOSE_NOT_STORED, "update not stored; reconnect")
                else:
                    self.stored_updates += len(batch)
                    self.stored_bytes += sum(len(update) for _, update, _ in batch)
                    senders = {peer for peer, _, _ in batch}
                    # Echoing a peer its own updates is harmless to Yjs (applied twice is
                    # applied once); only a lone sender is spared them.
                    exclude = next(iter(senders)) if len(senders) == 1 else None
                    for merged, ends in self._merged([(u, ends) for _, u, ends in batch]):
                        self.apply(merged, exclude=exclude, counted=True, ends=ends)
                        await self.rooms.publish(self.tenant_id, self.name, UPDATE + merged)
                finally:
                    for _ in batch:
                        self.room_for_pending.release()
                if (
                    self.stored_updates >= COMPACT_AFTER_UPDATES
                    or self.stored_bytes >= COMPACT_AFTER_BYTES
                ) and self.compacting is None:
                    self.compacting = self.rooms.own(self.compact(), f"yjs-compact-{self.name}")
        finally:
            self.writer = None

    def _merged(self, updates: list[Checked]) -> list[Checked]:
        """The batch as few updates as will each fit one frame: a burst does not
        fill every reader's queue, and no frame passes the frame limit. A merged
        update's struct ends are the furthest of its parts' (a merge keeps every struct)."""
        limit = self.rooms.max_document_bytes
        groups: list[list[Checked]] = [[]]
        size = 0
        for update, ends in updates:
            if groups[-1] and size + len(update) > limit:
                groups.append([])
                size = 0
            groups[-1].append((update, ends))
            size += len(update)
        return [group[0] if len(group) == 1 else _merge(group) for group in groups]

    def apply(
        self,
        update: bytes,
        exclude: Peer | None = None,
        *,
        counted: bool = False,
        ends: dict[int, int] | None = None,
    ) -> None:
        """Apply an update already stored and relay it to every peer but `exclude`
        (`counted`: its size is already in `size`; `ends`: its struct ends, when
        validation read them already)."""
        self.replica.apply(update, ends)
        if not counted:
            self.size += len(update)
        self.broadcast(yprotocol.sync_update(update), exclude)

    async def receive_awareness(self, peer: Peer, payload: bytes) -> None:
        """A peer's awareness update, within the bounds (AwarenessRefused past them)."""
        entries = yprotocol.decode_awareness(payload)
        introduced = awareness.check(self.awareness, peer.awareness_clients, entries)
        self.track_awareness(entries)
        peer.awareness_clients |= introduced
        peer.awareness_clients -= {e.client_id for e in entries if e.removed}
        self.broadcast(yprotocol.awareness(payload), exclude=peer)
        await self.rooms.publish(self.tenant_id, self.name, AWARENESS + payload)

    def track_awareness(self, entries: list[AwarenessEntry]) -> None:
        awareness.track(self.awareness, entries)

    def broadcast(self, frame: bytes, exclude: Peer | None = None) -> None:
        for peer in list(self.peers):
            if peer is not exclude:
                peer.deliver(frame)

    # --- lifecycle -------------------------------------------------------------------

    async def load(self) -> None:
        async with self.lock:
            if self.loaded:
                return
            async with TenantUnitOfWork(self.rooms.sessions, self.tenant_id) as uow:
                stored = await ydoc_store.load(uow.session, self.name)
            state = stored.get_update()
            self.replica.apply(state)
            self.size = len(state)
            self.loaded = True

    async def compact(self) -> None:
        try:
            async with self.lock:
                self.stored_updates = self.stored_bytes = 0
                await ydoc_store.compact_alone(self.rooms.sessions, self.tenant_id, self.name)
        except Exception:  # the document stays loaded; the next trigger retries
            log.warning("yjs compaction failed", document=self.name, exc_info=True)
        finally:
            self.compacting = None

    def forget(self, peer: Peer) -> None:
        """Drop a peer and tell the others its awareness states are gone."""
        self.peers.discard(peer)
        gone = awareness.gone(self.awareness, peer.awareness_clients)
        if gone and not self.rooms.closed:
            payload = yprotocol.encode_awareness(gone)
            self.track_awareness(gone)
            self.broadcast(yprotocol.awareness(payload))
            self.rooms.own(
                self.rooms.publish(self.tenant_id, self.name, AWARENESS + payload), "yjs-publish"
            )
