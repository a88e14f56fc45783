"""The one door for writes to synced data: a unit of change.

Every write to synced rows goes through one (device pushes over HTTP and
WebSocket, REST writes, conflict resolutions, rejection replays, jobs):

    async with UnitOfChange(sync, who, client_id) as unit:
        ...                     # read unit.batch rows, stage rows, log, conflicts
        await unit.commit()     # flush once, set the version, commit
    # after the block: the hub hint and the Yjs notifications, once committed

Entering opens a tenant unit of work and locks the tenant's version counter
for the length of the transaction (versions are given in commit order:
guarantee 3; a new task's job number is given under the same lock, by
`batch.next_job_number`, so no two tasks ever share one). `commit` writes
the staged rows (parents before children), the change-log entries, the
conflicts and the Yjs updates' effects, moves the tenant's version (and
its last job number) and keeps the push's answer (one statement on
PostgreSQL), and commits. Leaving without `commit` rolls back and tells
no one. The unit also owns the clocks: `stamp` clamps a device's stamp to
the server's clock plus the allowed skew, `server_stamp` gives a server write
a stamp later than every stamp on the row.

Non-synced rows written in the same transaction (a conflict's resolution, an
audit entry, a rejected change's replay) go through `unit.session`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.changes import Change
from protocol.hlc import HybridClock, Stamp, clamp
from protocol.merge import remember_text
from storage import sync_ledger as ledger
from storage import sync_store as store
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.sync.batch import Batch
from syncd.sync.scope import Scope

log = structlog.get_logger("syncd.sync")


@functools.lru_cache(maxsize=8192)
def parse_stamp(text: str) -> Stamp:
    """`Stamp.parse`, remembered: a change's stamps are read when it is decoded and
    again when it is merged (a Stamp is immutable; raises InvalidStamp as it does).
    Its text is remembered for writing it back (protocol.merge.stamp_text)."""
    stamp = Stamp.parse(text)
    remember_text(stamp, text)
    return stamp


class YDocWriter(Protocol):
    """Where `ydoc` changes go (the Yjs document store and its live rooms)."""

    async def append(self, session: AsyncSession, name: str, update: bytes) -> None:
        """Persist one update inside the push's transaction (raise ValueError if invalid)."""
        ...

    async def notify(self, tenant_id: uuid.UUID, name: str, update: bytes) -> None:
        """After commit: hand the update to live editors of the document."""
        ...


class Core(Protocol):
    """What a unit of change needs of the sync service (syncd.sync.service.SyncService):
    its sessions, clocks and post-commit steps."""

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def publish(self) -> Callable[[uuid.UUID, int], Any] | None: ...

    @property
    def ydocs(self) -> YDocWriter | None: ...

    @property
    def max_skew_ms(self) -> int: ...

    @property
    def server_clock(self) -> HybridClock: ...

    def now_ms(self) -> int: ...


class UnitOfChange:
    def __init__(
        self, sync: Core, who: Principal, client_id: str, *, scope: Scope | None = None
    ) -> None:
        self.sync = sync
        self.who = who
        self.client_id = client_id
        self._scope = scope
        self._work: TenantUnitOfWork | None = None
        self._batch: Batch | None = None
        self._committed = False
        self._now_ms: int | None = None  # the server's clock, read once per unit

    @property
    def session(self) -> AsyncSession:
        if self._work is None:
            raise RuntimeError("the unit of change is not open; use it with 'async with'")
        return self._work.session

    @property
    def batch(self) -> Batch:
        if self._batch is None:
            raise RuntimeError("the unit of change is not open; use it with 'async with'")
        return self._batch

    async def __aenter__(self) -> Self:
        if self._work is not None:
            raise RuntimeError("cannot reopen a unit of change")
        self._work = TenantUnitOfWork(self.sync.sessions, self.who.tenant_id)
        await self._work.__aenter__()
        try:
            # The lock comes first: it serialises the tenant's writes (resends of one
            # batch, first pushes of one client id) and orders versions by commit.
            counters = await ledger.lock_version(self.session)
            scope = self._scope or await Scope.load(self.session, self.who)
            self._batch = Batch(
                self.who, self.client_id, counters.version, scope, job_number=counters.job_number
            )
        except BaseException as exc:
            await self._work.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._work is not None
        await self._work.__aexit__(exc_type, exc, tb)
        if self._committed and exc is None:
            await self._after_commit()

    async def commit(self) -> None:
        """Write everything staged, move the tenant's version, commit."""
        batch, session = self.batch, self.session
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for (entity, _), row in batch.dirty.items():
            by_entity.setdefault(entity, []).append(row)
        for entity in store.SNAPSHOT_ORDER:  # parents before children
            await store.upsert_rows(session, entity, by_entity.get(entity, []))
        await store.append_log(session, batch.log)
        session.add_all(batch.conflicts)
        version = batch.version if batch.log else None
        await ledger.finish(session, version, batch.job_number_given, batch.push)
        assert self._work is not None
        await self._work.commit()
        self._committed = True

    async def _after_commit(self) -> None:
        """Log the conflicts it opened; tell the hub (a hint: readers catch up from the
        log) and the live editors."""
        batch = self.batch
        for conflict in batch.conflicts:
            log.info(
                "conflict opened",
                conflict_id=str(conflict.id),
                kind=conflict.kind,
                entity=conflict.entity,
                entity_id=str(conflict.entity_id),
                fields=list(conflict.fields or []),
                client_id=conflict.client_id,
            )
        if batch.log and self.sync.publish is not None:
            await self.sync.publish(self.who.tenant_id, batch.version)
        if self.sync.ydocs is not None:
            for name, update in batch.ydoc_updates:
                await self.sync.ydocs.notify(self.who.tenant_id, name, update)

    # --- clocks --------------------------------------------------------------------

    def stamp(self, change: Change, name: str | None = None) -> Stamp:
        """The change's stamp (for `name`: the field's own), clamped to the server's
        clock plus the allowed skew, so a clock far ahead cannot win every race."""
        text = (change.field_hlc or {}).get(name, change.hlc) if name else change.hlc
        stamp = parse_stamp(text)
        if self._now_ms is None:
            self._now_ms = self.sync.now_ms()
        clamped, was_clamped = clamp(stamp, self._now_ms, self.sync.max_skew_ms)
        if was_clamped:
            log.warning(
                "hlc stamp clamped",
                entity=change.entity,
                id=str(change.id),
                sent=str(stamp),
                kept=str(clamped),
            )
        return clamped

    def server_stamp(self, row: dict[str, Any] | None, node: str) -> Stamp:
        """A stamp for a server write of `row`, later than every stamp on it."""
        clocks = (row or {}).get("field_clocks") or {}
        latest = max(
            (Stamp.parse(c["hlc"]) for c in clocks.values() if isinstance(c, dict)),
            default=Stamp(0, 0, node),
        )
        return self.sync.server_clock.observe(latest).with_node(node)
