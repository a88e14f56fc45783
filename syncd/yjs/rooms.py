"""Yjs rooms: one live document per (tenant, document name) in this process.

A room holds a pycrdt document loaded from the store, the sockets editing it
(peers) and their awareness states. The hooks run in order for each update a
peer sends: validate (a scratch document), store, apply to the room's
document, relay to the other peers, publish to the other processes. Storing
is a group commit: the updates that arrive while a store is in flight are
stored together in the next transaction, so an update is durable before
anyone else sees it and a fast sender is not held to one transaction per
update. A failed store closes the peers whose updates it held (1011, so their
clients resend on reconnect) and keeps the document loaded.

Between processes (REDIS_URL set) rooms talk over Redis pub/sub on
`<prefix>yjs:<tenant>:<name>`; a payload is `<origin>:<kind><bytes>` (kind `u`
an update, `a` an awareness update), tagged with this process's origin so it is
never echoed back, and a relayed update is applied without being stored again
(the process that received it stored it). Updates pushed offline through
POST /sync/push (already stored in the push transaction) arrive by `notify`
and take the same relay path.

Bounds (docs/protocol.md): every update and state vector is read whole by
protocol.yupdate before pycrdt sees it; a document grows to at most
`max_document_bytes` (its whole state fits one frame), an update past that is
refused with `DocumentTooLarge` (close 4413); awareness holds at most
AWARENESS_MAX_STATES states of at most AWARENESS_MAX_STATE_BYTES each per
room, AWARENESS_MAX_ROOM_BYTES in all, and AWARENESS_MAX_CLIENTS_PER_PEER
client ids per socket (past any of them: `AwarenessRefused`, close 4413).
Relayed frames are merged only up to the document limit. The per-user cap
counts sockets by when they connected: the oldest closes (4409).

Compaction folds the stored updates into the snapshot once a room has stored
COMPACT_AFTER_UPDATES updates or COMPACT_AFTER_BYTES, and when the room
unloads (its last peer left); it is serialised per document by the room's lock
(and across processes by a row lock in storage.ydoc_store). Every task here is
owned by `Rooms` and cancelled and awaited when it closes.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Protocol

import structlog
from pycrdt import merge_updates
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yprotocol, yupdate
from protocol.yprotocol import AwarenessEntry
from storage import ydoc_store
from storage.unit_of_work import TenantUnitOfWork
from storage.ydoc_live import LiveWrites
from storage.ydoc_replica import Replica
from storage.ydoc_store import DocumentTooLarge
from syncd.sockets.close import Close

log = structlog.get_logger("syncd.yjs")

COMPACT_AFTER_UPDATES = 200
COMPACT_AFTER_BYTES = 256 * 1024
EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions
UPDATE, AWARENESS = b"u", b"a"
MAX_PENDING = 256  # updates waiting for the room's next store (group commit)
CLOSE_NOT_STORED = Close.SERVER_ERROR
CLOSE_SUPERSEDED = Close.SUPERSEDED
AWARENESS_MAX_STATES = 256
AWARENESS_MAX_STATE_BYTES = 8 * 1024
AWARENESS_MAX_ROOM_BYTES = 256 * 1024
AWARENESS_MAX_CLIENTS_PER_PEER = 8
FRAME_OVERHEAD = 16  # message type, sync type and length prefix of a frame
Key = tuple[uuid.UUID, str]
Checked = tuple[bytes, dict[int, int]]  # an update and its struct ends (protocol.yupdate)

__all__ = ["AwarenessRefused", "DocumentTooLarge", "Room", "Rooms"]


class AwarenessRefused(ValueError):
    """An awareness update past the room's or the socket's bounds."""


class Peer(Protocol):
    """A socket in a room (syncd.yjs.routes.YjsSession)."""

    awareness_clients: set[int]
    finished: asyncio.Event
    user_id: uuid.UUID | None
    opened: int  # when the socket connected (a per-process sequence number)

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
    def __init__(self, rooms: Rooms, tenant_id: uuid.UUID, name: str) -> None:
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
        """A peer's awareness update, within the bounds (AwarenessRefused past them).

        y-websocket clients send back the states they heard of others as well as
        their own, so a socket owns the client ids it introduced (unknown until
        then): those count against its bound, and go when it leaves."""
        entries = yprotocol.decode_awareness(payload)
        introduced = self._check_awareness(peer, entries)
        self.track_awareness(entries)
        peer.awareness_clients |= introduced
        peer.awareness_clients -= {e.client_id for e in entries if e.removed}
        self.broadcast(yprotocol.awareness(payload), exclude=peer)
        await self.rooms.publish(self.tenant_id, self.name, AWARENESS + payload)

    def _check_awareness(self, peer: Peer, entries: list[AwarenessEntry]) -> set[int]:
        """The client ids the update introduces, or AwarenessRefused."""
        if any(len(entry.state) > AWARENESS_MAX_STATE_BYTES for entry in entries):
            raise AwarenessRefused(f"an awareness state over {AWARENESS_MAX_STATE_BYTES} bytes")
        introduced = {
            e.client_id for e in entries if not e.removed and e.client_id not in self.awareness
        }
        if len(peer.awareness_clients | introduced) > AWARENESS_MAX_CLIENTS_PER_PEER:
            raise AwarenessRefused(
                f"more than {AWARENESS_MAX_CLIENTS_PER_PEER} awareness clients on one socket"
            )
        states = dict(self.awareness)
        for entry in entries:
            if entry.removed:
                states.pop(entry.client_id, None)
            else:
                states[entry.client_id] = entry
        size = sum(len(entry.state) for entry in states.values())
        if len(states) > AWARENESS_MAX_STATES or size > AWARENESS_MAX_ROOM_BYTES:
            raise AwarenessRefused("the document holds as many awareness states as it may")
        return introduced

    def track_awareness(self, entries: list[AwarenessEntry]) -> None:
        """Remember the newest state of each client."""
        for entry in entries:
            known = self.awareness.get(entry.client_id)
            if entry.removed:
                self.awareness.pop(entry.client_id, None)
            elif known is None or entry.clock >= known.clock:
                self.awareness[entry.client_id] = entry

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
        gone = [
            AwarenessEntry(cid, self.awareness[cid].clock + 1, "null")
            for cid in peer.awareness_clients
            if cid in self.awareness
        ]
        if gone and not self.rooms.closed:
            payload = yprotocol.encode_awareness(gone)
            self.track_awareness(gone)
            self.broadcast(yprotocol.awareness(payload))
            self.rooms.own(
                self.rooms.publish(self.tenant_id, self.name, AWARENESS + payload), "yjs-publish"
            )


class Rooms:
    """Every room of this process, the Redis relay and the tasks they own."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis | None = None,
        prefix: str = "",
        max_per_user: int = 32,
        max_frame_bytes: int = 1024 * 1024,
    ) -> None:
        self.sessions = sessions
        self.writes = LiveWrites(sessions)
        self.redis = redis
        self.prefix = prefix + "yjs:"
        self.max_per_user = max_per_user
        self.max_document_bytes = max_frame_bytes - FRAME_OVERHEAD
        self._by_user: dict[tuple[uuid.UUID, uuid.UUID], list[Peer]] = {}  # oldest first
        self.origin = uuid.uuid4().hex[:12].encode()
        self._rooms: dict[Key, Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._ready = asyncio.Event()

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
        if peer.user_id is None:
            return
        mine = self._by_user.setdefault((tenant_id, peer.user_id), [])
        bisect.insort(mine, peer, key=lambda p: p.opened)  # by connection, not by join
        for old in mine[: max(0, len(mine) - self.max_per_user)]:
            old.request_close(CLOSE_SUPERSEDED, "too many editing sockets for this user")

    def leave(self, room: Room, peer: Peer) -> None:
        if peer.user_id is not None:
            key = (room.tenant_id, peer.user_id)
            mine = self._by_user.get(key, [])
            if peer in mine:
                mine.remove(peer)
            if not mine:
                self._by_user.pop(key, None)
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

    # --- between processes -----------------------------------------------------------

    async def publish(self, tenant_id: uuid.UUID, name: str, body: bytes) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.publish(f"{self.prefix}{tenant_id}:{name}", self.origin + b":" + body)
        except Exception:  # other processes' editors resync on reconnect
            log.warning("yjs publish failed", document=name)

    def dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        """One pub/sub message from another process."""
        text = channel.decode() if isinstance(channel, bytes) else channel
        raw = data.encode() if isinstance(data, str) else data
        origin, _, body = raw.partition(b":")
        if origin == self.origin or not body:
            return
        tenant, _, name = text.removeprefix(self.prefix).partition(":")
        try:
            room = self._rooms.get((uuid.UUID(tenant), name))
            if room is None:
                return  # not open here: the store has it for whoever opens it
            kind, payload = body[:1], body[1:]
            if kind == UPDATE:
                room.apply(payload)
            elif kind == AWARENESS:
                room.track_awareness(yprotocol.decode_awareness(payload))
                room.broadcast(yprotocol.awareness(payload))
        except ValueError:
            log.warning("yjs relay ignored a malformed message", channel=text)

    async def _listen(self) -> None:
        assert self.redis is not None
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self.prefix}*")
                    self._ready.set()
                    async for message in pubsub.listen():
                        channel, data = message.get("channel"), message.get("data")
                        if (
                            message.get("type") == "pmessage"
                            and isinstance(channel, bytes | str)
                            and isinstance(data, bytes | str)
                        ):
                            self.dispatch(channel, data)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("yjs relay lost Redis; retrying in 1 s")
                await asyncio.sleep(1)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Rooms]:
        """Own the Redis listener (if any) and every room task for the app's life."""
        if self.redis is not None:
            self.own(self._listen(), "syncd-yjs-listener")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=5)
        try:
            yield self
        finally:
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
        pending = [t for t in self._tasks if t.get_name() != "syncd-yjs-listener"]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._rooms.clear()
        await self.writes.close()
