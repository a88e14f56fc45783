"""The Yjs document store: an append-only log of updates folded into snapshots.

Every function takes the session of a `TenantUnitOfWork` (the tenant comes from
there, never from an argument), except `append_alone` and `compact_alone`, a live
room's writes in a transaction of their own, which open one for the tenant they
are given.

A document is its `ydocs` row (the compacted snapshot, absent until the first
compaction) plus the `ydoc_updates` rows not yet folded into it. Row ids are
not commit order (a row with a smaller id may commit after a compaction read
a larger one), so loading applies every row still present, and compaction
deletes exactly the rows it folded; applying an update twice is harmless in a
CRDT. Rows come in any order, so they are applied through a `Replica`
(storage/ydoc_replica.py), which pycrdt needs to integrate them all; a
snapshot is the replica's encoding, so an update folded while it still waits
for one not yet committed stays in it.

Server-side documents get 32-bit client ids, like JavaScript Yjs
(FIELD-NOTES.md: pycrdt's default ids are wider).

No byte reaches pycrdt before protocol.yupdate has read it whole within its
limits (counts that fit, embedded values at most 64 deep): pycrdt trusts the
counts of an update, and a deep enough value crashes the process. A document
may grow to `max_bytes` in all (the server's frame limit, so its whole state
always fits one frame to a joining editor); an update past that is refused
with `DocumentTooLarge`.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc
from sqlalchemy import delete, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yupdate
from storage import sync_store
from storage.models import YDoc, YDocUpdate
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork, tenant_transaction
from storage.ydoc_replica import Replica


class DocumentTooLarge(ValueError):
    """The document would grow past its limit (`limit`, in bytes) with this update."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the document would pass {limit} bytes")
        self.limit = limit


def new_doc() -> Doc[Any]:
    """An empty pycrdt document with a 32-bit client id."""
    return Doc(client_id=random.getrandbits(32))


def validate(update: bytes) -> dict[int, int]:
    """Raise ValueError unless `update` is a bounded Yjs update (protocol.yupdate)
    that applies to a scratch document; answers its struct ends (for `Replica.apply`)."""
    if not update:
        raise ValueError("empty update")
    ends = yupdate.check_update(update)
    try:
        new_doc().apply_update(update)
    except ValueError:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError):
        raise
    except BaseException as exc:  # a Rust panic: pyo3's PanicException is no Exception
        raise ValueError(f"not a Yjs update: {type(exc).__name__}") from None
    return ends


async def append(session: AsyncSession, name: str, update: bytes, *, max_bytes: int) -> int:
    """Validate and store one update; answers its row id. DocumentTooLarge if the
    document would grow past `max_bytes`."""
    ends = validate(update)
    if await stored_size(session, name) + len(update) > max_bytes:
        # The stored parts overstate the document (updates overlap): measure it.
        replica = Replica(await load(session, name))
        replica.apply(update, ends)
        if len(replica.doc.get_update()) > max_bytes:
            raise DocumentTooLarge(max_bytes)
    row = YDocUpdate(name=name, data=update)
    session.add(row)
    await session.flush()
    return row.id


async def stored_size(session: AsyncSession, name: str) -> int:
    """The bytes of the document's snapshot and unfolded updates (at least its size)."""
    snapshot = select(func.coalesce(func.sum(func.length(YDoc.snapshot)), 0)).where(
        YDoc.name == name
    )
    updates = select(func.coalesce(func.sum(func.length(YDocUpdate.data)), 0)).where(
        YDocUpdate.name == name
    )
    return int(await session.scalar(snapshot) or 0) + int(await session.scalar(updates) or 0)


_APPEND_SQL = (
    "INSERT INTO ydoc_updates (tenant_id, name, data, created_at)"
    " SELECT $1, $2, u.data, $4 FROM unnest($3::bytea[]) WITH ORDINALITY AS u(data, n)"
    " ORDER BY u.n"
)


async def append_validated(session: AsyncSession, name: str, updates: list[bytes]) -> None:
    """Store updates the caller has validated already, in order, in one statement
    (on PostgreSQL straight on the session's connection)."""
    if session.get_bind().dialect.name != "postgresql":
        session.add_all([YDocUpdate(name=name, data=update) for update in updates])
        await session.flush()
        return
    await (await sync_store.driver_connection(session)).execute(
        _APPEND_SQL, session.info["tenant_id"], name, updates, utcnow()
    )


async def append_alone(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    name: str,
    updates: list[bytes],
) -> None:
    """Store validated updates in a transaction of their own, committed on return.

    On PostgreSQL it runs on a pooled connection without the ORM session
    (storage.unit_of_work's `tenant_transaction`: same role and row-level
    security). Live rooms write through storage.ydoc_live, which comes here on
    SQLite only (on PostgreSQL it does the same in one round trip)."""
    engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        async with tenant_transaction(engine, tenant_id) as connection:
            await connection.execute(_APPEND_SQL, tenant_id, name, updates, utcnow())
        return
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        await append_validated(uow.session, name, updates)
        await uow.commit()


async def load(session: AsyncSession, name: str) -> Doc[Any]:
    """The document: its snapshot with every unfolded update applied."""
    replica = Replica(new_doc())
    for update in await _parts(session, name):
        replica.apply(update)
    return replica.doc


async def _parts(session: AsyncSession, name: str) -> list[bytes]:
    # One statement, so one view of the data: read as two, a compaction committing
    # between them (updates folded into the snapshot, then deleted) could hide both.
    snapshot = select(
        literal(0).label("part"), literal(0).label("seq"), YDoc.snapshot.label("data")
    )
    updates = select(literal(1), YDocUpdate.id, YDocUpdate.data)
    both = union_all(
        snapshot.where(YDoc.name == name), updates.where(YDocUpdate.name == name)
    ).order_by("part", "seq")
    return [data for _, _, data in (await session.execute(both)).all() if data]


@dataclass(frozen=True)
class Backlog:
    updates: int
    size: int


async def backlog(session: AsyncSession, name: str) -> Backlog:
    """How many unfolded updates the document has, and their total size."""
    count, size = (
        await session.execute(
            select(
                func.count(YDocUpdate.id), func.coalesce(func.sum(func.length(YDocUpdate.data)), 0)
            ).where(YDocUpdate.name == name)
        )
    ).one()
    return Backlog(int(count), int(size))


async def compact(
    session: AsyncSession, name: str, *, min_updates: int = 1, min_bytes: int | None = None
) -> int:
    """Fold the updates into the snapshot once there are `min_updates` (or `min_bytes`).

    Locks the document row first (PostgreSQL), so two processes compacting the
    same document take turns; answers how many updates were folded.
    """
    row = await session.scalar(select(YDoc).where(YDoc.name == name).with_for_update())
    result = await session.execute(
        select(YDocUpdate.id, YDocUpdate.data)
        .where(YDocUpdate.name == name)
        .order_by(YDocUpdate.id)
    )
    rows = [(row_id, data) for row_id, data in result.all()]
    size = sum(len(data) for _, data in rows)
    if not rows or (len(rows) < min_updates and (min_bytes is None or size < min_bytes)):
        return 0
    folded = [row_id for row_id, _ in rows]
    if row is None:
        row = YDoc(name=name, snapshot=b"", snapshot_seq=0, update_count=0)
        session.add(row)
    row.snapshot = _fold(row.snapshot, rows)
    row.snapshot_seq = max(row.snapshot_seq, *folded)
    row.update_count += len(folded)
    await session.execute(delete(YDocUpdate).where(YDocUpdate.id.in_(folded)))
    await session.flush()
    return len(folded)


def _fold(snapshot: bytes | None, rows: list[tuple[int, bytes]]) -> bytes:
    """A snapshot with the rows' updates applied (in any order: a `Replica`)."""
    replica = Replica(new_doc())
    if snapshot:
        replica.apply(snapshot)
    for _, data in rows:
        replica.apply(data)
    return replica.encode()


_LOCK_SNAPSHOT_SQL = (
    "SELECT snapshot, snapshot_seq FROM ydocs WHERE tenant_id = $1 AND name = $2 FOR UPDATE"
)
_UNFOLDED_SQL = "SELECT id, data FROM ydoc_updates WHERE tenant_id = $1 AND name = $2 ORDER BY id"
# A plain INSERT, as the ORM's: two processes folding a new document at once, the
# second fails on the key and rolls back rather than overwrite the first's snapshot.
_INSERT_SNAPSHOT_SQL = (
    "INSERT INTO ydocs (tenant_id, name, snapshot, snapshot_seq, update_count, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_UPDATE_SNAPSHOT_SQL = (
    "UPDATE ydocs SET snapshot = $3, snapshot_seq = GREATEST(snapshot_seq, $4),"
    " update_count = update_count + $5, updated_at = $6 WHERE tenant_id = $1 AND name = $2"
)
_DELETE_FOLDED_SQL = "DELETE FROM ydoc_updates WHERE tenant_id = $1 AND id = ANY($2::bigint[])"


async def compact_alone(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, name: str
) -> int:
    """`compact` (every unfolded update) in a transaction of its own, committed on
    return; answers how many updates were folded. On PostgreSQL as lean SQL on a
    `tenant_transaction`, as `append_alone` (a live room compacts every few hundred
    updates, and the ORM's statements cost more than the fold)."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        async with TenantUnitOfWork(sessions, tenant_id) as uow:
            count = await compact(uow.session, name)
            await uow.commit()
        return count
    async with tenant_transaction(engine, tenant_id) as connection:
        row = await connection.fetchrow(_LOCK_SNAPSHOT_SQL, tenant_id, name)
        rows = [
            (r["id"], r["data"]) for r in await connection.fetch(_UNFOLDED_SQL, tenant_id, name)
        ]
        if not rows:
            return 0
        folded = [row_id for row_id, _ in rows]
        snapshot = _fold(row["snapshot"] if row is not None else None, rows)
        values = (tenant_id, name, snapshot, max(folded), len(folded), utcnow())
        sql = _INSERT_SNAPSHOT_SQL if row is None else _UPDATE_SNAPSHOT_SQL
        await connection.execute(sql, *values)
        await connection.execute(_DELETE_FOLDED_SQL, tenant_id, folded)
    return len(folded)
