"""Units of work: one transaction, bound to one tenant or explicitly unscoped.

`TenantUnitOfWork` is the only way application code reaches tenant data: its
session filters and stamps by tenant (storage.tenancy) and, on PostgreSQL,
switches to the `syncd_tenant` role with `app.tenant_id` set for the
transaction, so row-level security holds even if wall 1 had a bug.
`PlatformUnitOfWork` is the separately named, cross-tenant path for platform
operations (tenant admin, seeding). Both roll back unless `commit()` ran.

`tenant_transaction` is the lean form of a tenant unit of work on PostgreSQL
for a hot path that writes a statement or two of raw SQL (a live editor's
Yjs update): a pooled asyncpg connection in a transaction under the same role
and `app.tenant_id`, so row-level security holds as it does for the ORM, but
without the session's machinery (about two thirds of a small transaction's
CPU). Wall 1 (the ORM filter) does not see raw SQL: its statements name the
tenant themselves.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

import storage.tenancy  # noqa: F401  (registers the session events)

TENANT_ROLE = "syncd_tenant"
# One round trip: `set_config('role', ..., true)` is `SET LOCAL ROLE`.
BIND_TENANT_SQL = "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)"


class _UnitOfWork:
    _scope = ""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open; use it with 'async with'")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("cannot reopen a unit of work")
        for attempt in (1, 2):
            self._session = self._sessions(info=self._info())
            try:
                await self._session.begin()
                if self._session.get_bind().dialect.name == "postgresql":
                    await self._bind_postgres(self._session)
                return self
            except DBAPIError as exc:
                # The pool hands out connections unchecked (no pre-ping round trip):
                # one that died while pooled fails here, before any work, and is
                # dropped; the transaction starts again once on a fresh one.
                await self._session.close()
                self._session = None
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if not self._committed:
                await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def flush(self) -> None:
        await self.session.flush()

    def _info(self) -> dict[str, object]:
        return {"scope": self._scope}

    async def _bind_postgres(self, session: AsyncSession) -> None:
        raise NotImplementedError


class TenantUnitOfWork(_UnitOfWork):
    """A transaction that can see and write one tenant's rows, and nothing else."""

    _scope = "tenant"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> None:
        if not isinstance(tenant_id, uuid.UUID):
            raise TypeError("tenant_id must be a UUID")
        super().__init__(sessions)
        self.tenant_id = tenant_id

    def _info(self) -> dict[str, object]:
        return {"scope": self._scope, "tenant_id": self.tenant_id}

    async def _bind_postgres(self, session: AsyncSession) -> None:
        # As the driver's own SQL on the session's connection (which starts the
        # transaction): a text() statement through the ORM paid for the tenancy hook.
        connection = await session.connection()
        await connection.exec_driver_sql(BIND_TENANT_SQL, (TENANT_ROLE, str(self.tenant_id)))


class PlatformUnitOfWork(_UnitOfWork):
    """A cross-tenant transaction for platform operations. Use sparingly."""

    _scope = "platform"

    async def _bind_postgres(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT set_config('app.platform', 'on', true)"))


_DEAD_CONNECTION = (asyncpg.exceptions.ConnectionDoesNotExistError, ConnectionError)


@contextlib.asynccontextmanager
async def tenant_transaction(engine: AsyncEngine, tenant_id: uuid.UUID) -> AsyncIterator[Any]:
    """PostgreSQL only: an asyncpg connection in a transaction bound to `tenant_id`
    (role and `app.tenant_id`, as a TenantUnitOfWork); it commits when the block
    ends without an exception and rolls back otherwise. The transaction is the
    connection's own (BEGIN and COMMIT as SQL): nest with SAVEPOINT statements,
    not asyncpg's `transaction()`.

    As with the units of work, a pooled connection the server closed fails at the
    first statement and the transaction starts once more on a fresh one."""
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    # BEGIN and the binding in one round trip (a simple query: every value in it
    # is the server's own, the role a constant and the tenant a UUID's text).
    begin = (
        f"BEGIN; SELECT set_config('role', '{TENANT_ROLE}', true),"
        f" set_config('app.tenant_id', '{uuid.UUID(str(tenant_id))}', true)"
    )
    for attempt in (1, 2):
        pooled = await engine.raw_connection()
        connection: Any = pooled.driver_connection
        try:
            await connection.execute(begin)
        except BaseException as exc:
            await greenlet_spawn(pooled.invalidate)
            dead = connection.is_closed() or isinstance(exc, _DEAD_CONNECTION)
            if attempt == 2 or not dead:
                raise
            continue
        break
    try:
        try:
            yield connection
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.execute("ROLLBACK")
            raise
        await connection.execute("COMMIT")
    except BaseException:
        if connection.is_closed() or connection.is_in_transaction():
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        await greenlet_spawn(pooled.close)
