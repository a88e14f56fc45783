"""A live room's writes (storage/ydoc_live.py): one statement per batch, tenant-walled."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from pycrdt import Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import ydoc_store
from storage.database import create_engine, session_factory
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from storage.ydoc_live import APPEND_BOUND_SQL, LiveWrites
from tests.support.factories import make_tenant

Sessions = async_sessionmaker[AsyncSession]
NAME = "task:00000000-0000-4000-8000-000000000002:notes"


def edits(count: int) -> list[bytes]:
    doc = ydoc_store.new_doc()
    text = doc.get("notes", type=Text)
    updates = []
    for index in range(count):
        state = doc.get_state()
        text.insert(len(text), f"{index};")
        updates.append(doc.get_update(state))
    return updates


async def text_of(sessions: Sessions, tenant_id: uuid.UUID) -> str:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        return str((await ydoc_store.load(uow.session, NAME)).get("notes", type=Text))


async def test_batches_are_stored_in_order_for_their_tenant_only(sessions: Sessions) -> None:
    tenant, other = await make_tenant(sessions), await make_tenant(sessions)
    writes = LiveWrites(sessions, connections=2)
    updates = edits(5)
    try:
        await writes.append(tenant.id, NAME, updates[:3])
        await writes.append(tenant.id, NAME, updates[3:])
    finally:
        await writes.close()
    assert await text_of(sessions, tenant.id) == "0;1;2;3;4;"
    assert await text_of(sessions, other.id) == ""
    with pytest.raises(RuntimeError, match="closed"):
        await writes.append(tenant.id, NAME, updates[:1])


async def test_a_connection_that_died_is_replaced(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url)
    sessions = session_factory(engine)
    tenant = await make_tenant(sessions)
    writes = LiveWrites(sessions, connections=1)
    updates = edits(2)
    try:
        await writes.append(tenant.id, NAME, updates[:1])
        (idle,) = writes._idle
        async with engine.connect() as admin:  # the server ends the idle connection
            await admin.exec_driver_sql(f"SELECT pg_terminate_backend({idle.get_server_pid()})")
        await writes.append(tenant.id, NAME, updates[1:])
        assert await text_of(sessions, tenant.id) == "0;1;"
    finally:
        await writes.close()
        await engine.dispose()


async def test_row_level_security_holds_in_the_one_statement(pg_database_url: str) -> None:
    """The connection is the tenant role for good and the CTE's binding is what row
    security checks: a row for another tenant than the bound one is refused, and
    nothing of the binding outlives the statement."""
    engine = create_engine(pg_database_url)
    sessions = session_factory(engine)
    tenant, other = await make_tenant(sessions), await make_tenant(sessions)
    writes = LiveWrites(sessions, connections=1)
    try:
        await writes.append(tenant.id, NAME, edits(1))
        (connection,) = writes._idle
        assert await connection.fetchval("SELECT current_user") == "syncd_tenant"
        assert await connection.fetchval("SELECT current_setting('app.tenant_id', true)") == ""
        assert await connection.fetchval("SELECT count(*) FROM ydoc_updates") == 0
        mixed = APPEND_BOUND_SQL.replace("SELECT $1::uuid, $2", "SELECT $5::uuid, $2")
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await connection.execute(mixed, tenant.id, NAME, edits(1), utcnow(), other.id)
        assert await text_of(sessions, other.id) == ""
    finally:
        await writes.close()
        await engine.dispose()
