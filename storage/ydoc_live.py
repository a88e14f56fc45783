"""Live rooms' writes: a batch of a live editor's updates in one round trip.

A live room stores each batch of validated updates before it relays them
(docs/protocol.md: durable before anyone else sees it). At a typing rate a
batch is one update, so the round trips of a transaction were most of the
server's work per update: BEGIN with the tenant binding, the INSERT, COMMIT.

On PostgreSQL `LiveWrites` holds a few connections of its own (taken from the
engine and detached from its pool), each switched once to the tenant role for
its whole life (`SET ROLE syncd_tenant`: it can do nothing else). A batch is
then one statement in its own implicit transaction, durable when it returns:
a CTE binds `app.tenant_id` for that transaction (`set_config(..., true)`)
before the insert produces a row, and row-level security checks every row
against it, as for any tenant transaction. Rows for another tenant than the
bound one fail the policy (tests/integration/yjs/test_ydoc_live.py proves both).

A connection found dead is dropped and the batch written once more on a fresh
one (a batch stored twice is harmless: applying an update twice is a no-op in
a CRDT); any other failure drops the connection too (its state is unknown)
and raises to the room. On SQLite a batch is `ydoc_store.append_alone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import ydoc_store
from storage.types import utcnow
from storage.unit_of_work import TENANT_ROLE

CONNECTIONS = 4  # at most this many batches of different rooms written at once

APPEND_BOUND_SQL = (
    "WITH bound AS MATERIALIZED (SELECT set_config('app.tenant_id', $1::uuid::text, true))"
    " INSERT INTO ydoc_updates (tenant_id, name, data, created_at)"
    " SELECT $1::uuid, $2, u.data, $4"
    " FROM bound, unnest($3::bytea[]) WITH ORDINALITY AS u(data, n) ORDER BY u.n"
)
_DEAD = (asyncpg.exceptions.ConnectionDoesNotExistError, ConnectionError)


class LiveWrites:
    """Where a process's live rooms store their updates (owned by syncd.yjs.rooms.Rooms)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, connections: int = CONNECTIONS
    ) -> None:
        self.sessions = sessions
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[Any] = []
        self._closed = False

    @property
    def _engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.sessions.kw["bind"]
        return engine

    async def append(self, tenant_id: uuid.UUID, name: str, updates: list[bytes]) -> None:
        """Store validated updates, in order, durably before returning."""
        if not isinstance(tenant_id, uuid.UUID):
            raise TypeError("tenant_id must be a UUID")
        if self._closed:
            raise RuntimeError("the live writes are closed")
        if self._engine.dialect.name != "postgresql":
            await ydoc_store.append_alone(self.sessions, tenant_id, name, updates)
            return
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                connection = self._idle.pop() if reused else await self._open()
                try:
                    await connection.execute(APPEND_BOUND_SQL, tenant_id, name, updates, utcnow())
                except BaseException as exc:
                    connection.terminate()
                    dead = isinstance(exc, _DEAD) or connection.is_closed()
                    if attempt == 2 or not reused or not dead:
                        raise
                    continue
                self._release(connection)
                return

    async def _open(self) -> Any:
        """A connection of the engine's, out of its pool, in the tenant role for good."""
        pooled = await self._engine.raw_connection()
        connection: Any = pooled.driver_connection
        pooled.detach()  # never back to the pool: its role would follow it there
        try:
            await connection.execute(f"SET ROLE {TENANT_ROLE}")
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _release(self, connection: Any) -> None:
        if self._closed:
            connection.terminate()
        else:
            self._idle.append(connection)

    async def close(self) -> None:
        """Close the idle connections (one in use closes when its write ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)
            if not connection.is_closed():
                connection.terminate()
