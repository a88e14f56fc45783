"""Wall 2 of tenancy on PostgreSQL: row-level security holds even without wall 1.

SQLite has no row-level security; there wall 1 (storage.tenancy) stands alone,
and tests/integration/tenants/test_tenancy.py covers it on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.database import create_engine, session_factory
from storage.unit_of_work import TenantUnitOfWork, tenant_transaction
from tests.support.factories import add_task, make_tenant
from tests.support.services import PG_ADMIN_DSN

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def pg_engine(pg_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def pg_sessions(pg_engine: AsyncEngine) -> Sessions:
    return session_factory(pg_engine)


@pytest.fixture
async def pg_two_tenants(pg_sessions: Sessions) -> tuple[uuid.UUID, uuid.UUID]:
    a = await make_tenant(pg_sessions)
    b = await make_tenant(pg_sessions)
    await add_task(pg_sessions, a.id, "a-1")
    await add_task(pg_sessions, a.id, "a-2")
    await add_task(pg_sessions, b.id, "b-1")
    return a.id, b.id


async def test_wall_two_alone_hides_other_tenants_on_postgres(
    pg_engine: AsyncEngine, pg_sessions: Sessions, pg_two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """Raw SQL bypasses wall 1 entirely; row-level security must still hold."""
    a, b = pg_two_tenants
    async with TenantUnitOfWork(pg_sessions, a) as uow:
        raw = uow.session.connection
        conn = await raw()
        assert (await conn.execute(text("SELECT current_user"))).scalar() == "syncd_tenant"
        assert (await conn.execute(text("SELECT count(*) FROM tasks"))).scalar() == 2
        named = await conn.execute(
            text("SELECT count(*) FROM tasks WHERE tenant_id = :b"), {"b": b}
        )
        assert named.scalar() == 0
        assert (await conn.execute(text("SELECT count(*) FROM tenants"))).scalar() == 1
        updated = await conn.execute(
            text("UPDATE tasks SET title = 'x' WHERE tenant_id = :b"), {"b": b}
        )
        assert updated.rowcount == 0
    async with pg_engine.connect() as plain:  # the role and tenant ended with the transaction
        assert (await plain.execute(text("SELECT current_user"))).scalar() == "postgres"
        setting = text("SELECT current_setting('app.tenant_id', true)")
        assert (await plain.execute(setting)).scalar() in ("", None)
    async with TenantUnitOfWork(pg_sessions, a) as uow:
        conn = await uow.session.connection()
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO tasks (tenant_id, id, title, description, status, priority,"
                    " location, field_clocks, version, created_at, updated_at)"
                    " VALUES (:b, :id, 't', '', 'open', 'normal', '{}', '{}', 0, now(), now())"
                ),
                {"b": b, "id": uuid.uuid4()},
            )


async def test_wall_two_without_any_setting_shows_nothing_on_postgres(
    pg_engine: AsyncEngine, pg_two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    async with pg_engine.connect() as conn:
        await conn.execute(text("SET ROLE syncd_tenant"))
        assert (await conn.execute(text("SELECT count(*) FROM tasks"))).scalar() == 0
        assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 0
        await conn.rollback()


async def test_row_level_security_is_forced_on_every_tenant_table(pg_engine: AsyncEngine) -> None:
    from storage.models import tenant_tables

    async with pg_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
        )
        flags = {name: (enabled, forced) for name, enabled, forced in rows}
    for table in [*tenant_tables(), "tenants"]:
        assert flags[table] == (True, True), table


async def test_a_pooled_connection_that_died_is_replaced_and_the_work_goes_on(
    pg_database_url: str,
) -> None:
    """No pre-ping: a unit of work on a connection the server closed starts again once."""
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        sessions = session_factory(engine)
        tenant = await make_tenant(sessions)
        async with TenantUnitOfWork(sessions, tenant.id) as uow:  # the pool keeps it
            backend = await uow.session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            again = await uow.session.scalar(text("SELECT pg_backend_pid()"))
        assert again != backend
    finally:
        await engine.dispose()


async def test_a_lean_tenant_transaction_is_held_by_row_level_security(
    pg_engine: AsyncEngine, pg_two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """`tenant_transaction` (raw asyncpg, no ORM) sees and writes one tenant only,
    commits at the end of its block and rolls back on an exception."""
    a, b = pg_two_tenants
    async with tenant_transaction(pg_engine, a) as conn:
        assert await conn.fetchval("SELECT current_user") == "syncd_tenant"
        assert await conn.fetchval("SELECT count(*) FROM tasks") == 2
        assert await conn.fetchval("SELECT count(*) FROM tasks WHERE tenant_id = $1", b) == 0
        await conn.execute("SAVEPOINT other_tenant")  # the outer transaction goes on
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO ydoc_updates (tenant_id, name, data, created_at)"
                " VALUES ($1, 'task:x:notes', '\\x00'::bytea, now())",
                b,
            )
        await conn.execute("ROLLBACK TO SAVEPOINT other_tenant")
        await conn.execute(
            "INSERT INTO ydoc_updates (tenant_id, name, data, created_at)"
            " VALUES ($1, 'task:x:notes', '\\x00'::bytea, now())",
            a,
        )

    async def write_then_fail() -> None:
        async with tenant_transaction(pg_engine, a) as conn:
            await conn.execute(
                "INSERT INTO ydoc_updates (tenant_id, name, data, created_at)"
                " VALUES ($1, 'task:y:notes', '\\x00'::bytea, now())",
                a,
            )
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await write_then_fail()
    async with pg_engine.connect() as plain:  # as the owner: both tenants' rows
        # (the database is shared with other tests: only this test's tenants count)
        stored = await plain.execute(
            text("SELECT tenant_id, name FROM ydoc_updates WHERE tenant_id IN (:a, :b)"),
            {"a": a, "b": b},
        )
        assert sorted(stored.all()) == [(a, "task:x:notes")]
        assert (await plain.execute(text("SELECT current_user"))).scalar() == "postgres"


async def test_a_lean_tenant_transaction_replaces_a_pooled_connection_that_died(
    pg_database_url: str,
) -> None:
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        tenant = await make_tenant(session_factory(engine))
        async with tenant_transaction(engine, tenant.id) as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", backend)
        finally:
            await admin.close()
        async with tenant_transaction(engine, tenant.id) as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != backend
            assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == str(tenant.id)
    finally:
        await engine.dispose()
