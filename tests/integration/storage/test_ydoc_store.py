"""The Yjs document store (storage/ydoc_store.py) on both databases."""

from __future__ import annotations

import uuid

import pytest
from pycrdt import Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import ydoc_store
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import make_tenant

Sessions = async_sessionmaker[AsyncSession]
NAME = "task:00000000-0000-4000-8000-000000000001:notes"
MAX_BYTES = 1024 * 1024


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


async def test_append_load_and_compact(sessions: Sessions) -> None:
    tenant, other = await make_tenant(sessions), await make_tenant(sessions)
    updates = edits(6)
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        for update in updates[:4]:
            await ydoc_store.append(uow.session, NAME, update, max_bytes=MAX_BYTES)
        await uow.commit()
    assert await text_of(sessions, tenant.id) == "0;1;2;3;"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await ydoc_store.compact(uow.session, NAME, min_updates=10) == 0
        assert await ydoc_store.compact(uow.session, NAME, min_updates=10, min_bytes=1) == 4
        await uow.commit()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await ydoc_store.backlog(uow.session, NAME) == ydoc_store.Backlog(0, 0)
        for update in updates[4:]:
            await ydoc_store.append(uow.session, NAME, update, max_bytes=MAX_BYTES)
        await uow.commit()
    assert await text_of(sessions, tenant.id) == "0;1;2;3;4;5;"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await ydoc_store.compact(uow.session, NAME) == 2
        await uow.commit()
    assert await text_of(sessions, tenant.id) == "0;1;2;3;4;5;"
    assert await text_of(sessions, other.id) == ""  # another tenant's same name is empty


async def test_garbage_is_refused_before_storing(sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        for garbage in (b"", b"garbage", edits(1)[0][:-2]):
            with pytest.raises(ValueError, match="update"):
                await ydoc_store.append(uow.session, NAME, garbage, max_bytes=MAX_BYTES)
        assert (await ydoc_store.backlog(uow.session, NAME)).updates == 0


def test_server_documents_use_32_bit_client_ids() -> None:
    assert all(ydoc_store.new_doc().client_id < 2**32 for _ in range(50))


def inserts_at_start_then_end() -> list[bytes]:
    """Three inserts at the start and one at the end: the stream that pycrdt alone
    merges wrongly when rows 2 and 3 come before row 1 (tests/unit/storage/test_ydoc_replica.py)."""
    doc = ydoc_store.new_doc()
    text = doc.get("notes", type=Text)
    updates = []
    for position, piece in ((0, "X"), (0, "X"), (0, "X"), (3, "Y")):
        state = doc.get_state()
        text.insert(position, piece)
        updates.append(doc.get_update(state))
    return updates


async def test_rows_stored_out_of_causal_order_load_and_compact_whole(
    sessions: Sessions,
) -> None:
    """Row ids are not commit order: two processes appending to one document can
    store an update before the one it follows. Loading and compaction keep every
    item, and compaction stores a snapshot that a fresh document reads whole."""
    tenant, other = await make_tenant(sessions), await make_tenant(sessions)
    updates = inserts_at_start_then_end()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        for index in (0, 2, 3, 1):
            await ydoc_store.append(uow.session, NAME, updates[index], max_bytes=MAX_BYTES)
        await uow.commit()
    assert await text_of(sessions, tenant.id) == "XXXY"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await ydoc_store.compact(uow.session, NAME) == 4
        await uow.commit()
    assert await text_of(sessions, tenant.id) == "XXXY"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        snapshot = (await ydoc_store.load(uow.session, NAME)).get_update()
    fresh = ydoc_store.new_doc()
    fresh.apply_update(snapshot)
    assert str(fresh.get("notes", type=Text)) == "XXXY"
    assert await text_of(sessions, other.id) == ""


async def test_compact_alone_folds_a_documents_updates_in_its_own_transaction(
    sessions: Sessions,
) -> None:
    """A live room's compaction (lean SQL on PostgreSQL): the first creates the
    snapshot, the next folds into it, rows out of causal order are kept whole, and
    another tenant's document of the same name is neither read nor touched."""
    tenant, other = await make_tenant(sessions), await make_tenant(sessions)
    updates, others = inserts_at_start_then_end(), edits(1)[0]
    async with TenantUnitOfWork(sessions, other.id) as uow:
        await ydoc_store.append(uow.session, NAME, others, max_bytes=MAX_BYTES)
        await uow.commit()
    await ydoc_store.append_alone(sessions, tenant.id, NAME, [updates[0], updates[2]])
    assert await ydoc_store.compact_alone(sessions, tenant.id, NAME) == 2
    assert await ydoc_store.compact_alone(sessions, tenant.id, NAME) == 0
    await ydoc_store.append_alone(sessions, tenant.id, NAME, [updates[3], updates[1]])
    assert await ydoc_store.compact_alone(sessions, tenant.id, NAME) == 2
    assert await text_of(sessions, tenant.id) == "XXXY"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await ydoc_store.backlog(uow.session, NAME) == ydoc_store.Backlog(0, 0)
        fresh = ydoc_store.new_doc()
        fresh.apply_update((await ydoc_store.load(uow.session, NAME)).get_update())
    assert str(fresh.get("notes", type=Text)) == "XXXY"
    async with TenantUnitOfWork(sessions, other.id) as uow:
        assert await ydoc_store.backlog(uow.session, NAME) == ydoc_store.Backlog(1, len(others))
    assert await text_of(sessions, other.id) == "0;"
