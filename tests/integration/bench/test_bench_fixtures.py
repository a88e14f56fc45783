"""The benchmarks' database fixtures are what they claim (PostgreSQL only).

bench/push_floor.py's floor must write exactly the rows syncd wrote, into
tables that keep the same row-level security and foreign keys; and
bench/tenant_seed.py's copies of a template syncd wrote must behave as syncd's
own rows do (a technician's snapshot and log agree, the log is gapless). Both
are raw SQL under the tenant role of PostgreSQL's row-level security, which
SQLite does not have, so these tests run on PostgreSQL alone.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.database import create_engine, session_factory
from syncd.app import create_app
from syncd.sync.cursor import Cursor
from tests.support.factories import Account, login, make_tenant, make_user
from tests.support.services import make_settings, migrate_url
from tests.support.sync import Replica, action, pull_all, push, upsert

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import push_floor
import tenant_seed

pytestmark = pytest.mark.postgres


@pytest.fixture
def bench_url(fresh_pg_database: Any) -> str:
    url: str = fresh_pg_database()
    asyncio.run(migrate_url(url))
    return url


@pytest.fixture
async def sessions(bench_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(bench_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def bench_client(bench_url: str, tmp_path: Path, aiohttp_client: Any) -> TestClient[Any, Any]:
    app = create_app(make_settings(tmp_path, DATABASE_URL=bench_url))
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


@pytest.fixture
async def raw(bench_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(bench_url.replace("postgresql+asyncpg://", "postgresql://"))
    yield conn
    await conn.close()


def version_of(answer: dict[str, Any]) -> int:
    cursor = Cursor.decode(answer["cursor"])
    assert cursor is not None
    return cursor.version


async def rows(raw: asyncpg.Connection, table: str, tenant_id: uuid.UUID) -> list[tuple[Any, ...]]:
    found = await raw.fetch(f"SELECT * FROM {table} WHERE tenant_id = $1", tenant_id)
    return sorted((tuple(r) for r in found), key=repr)


async def test_the_floor_writes_exactly_syncds_rows_under_the_same_keys_and_rls(
    bench_client: TestClient[Any, Any],
    sessions: async_sessionmaker[AsyncSession],
    raw: asyncpg.Connection,
) -> None:
    tenant = await make_tenant(sessions)
    admin = await login(bench_client, await make_user(sessions, tenant, Role.ADMIN))
    ids = [uuid.uuid4() for _ in range(3)]
    spans, low = [], 0
    for n, part in enumerate((ids[:2], ids[2:])):
        changes = [upsert("task", i, "dev", title=f"T{i}", priority="low") for i in part]
        answer = await push(bench_client, admin, "dev", changes, batch_id=f"c{n}")
        spans.append((low, version_of(answer), f"c{n}"))
        low = version_of(answer)
    created = await push_floor.capture(raw, tenant.id, spans)
    edits = [upsert("task", i, "dev", base=low, title="edited", priority="high") for i in ids]
    answer = await push(bench_client, admin, "dev", edits, batch_id="e0")
    edited = await push_floor.capture(
        raw, tenant.id, [(low, version_of(answer), "e0")], updated=("tasks",)
    )

    await push_floor.clone_tables(raw)
    await push_floor.reset(raw, tenant.id)
    await push_floor.replay(raw, tenant.id, created)
    await push_floor.replay(raw, tenant.id, edited)

    for table in ("tasks", "task_events", "change_log", "push_batches", "tenant_versions"):
        assert await rows(raw, f"floor_{table}", tenant.id) == await rows(raw, table, tenant.id)
    assert len(await rows(raw, "floor_change_log", tenant.id)) == 3 * 2 + 3
    other = await make_tenant(sessions)
    async with raw.transaction():  # row-level security is forced on the clones
        await raw.execute(
            "SELECT set_config('role', 'syncd_tenant', true),"
            " set_config('app.tenant_id', $1, true)",
            str(other.id),
        )
        assert await raw.fetchval("SELECT count(*) FROM floor_tasks") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await raw.execute(
                "INSERT INTO floor_push_batches (tenant_id, client_id, batch_id, user_id,"
                " response, created_at) VALUES ($1, 'x', 'y', $2, '{}', now())",
                tenant.id,
                admin.user_id,
            )
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # a timeline entry needs its task
        await raw.execute(
            "INSERT INTO floor_task_events (tenant_id, id, task_id, kind, server_time, refused,"
            " payload, version) VALUES ($1, $2, $3, 'note', now(), false, '{}', 99)",
            tenant.id,
            uuid.uuid4(),
            uuid.uuid4(),
        )


async def test_seeded_copies_of_a_syncd_template_behave_as_syncds_own_rows(
    bench_client: TestClient[Any, Any],
    sessions: async_sessionmaker[AsyncSession],
    raw: asyncpg.Connection,
) -> None:
    tenant = await make_tenant(sessions)
    admin = await login(bench_client, await make_user(sessions, tenant, Role.ADMIN))
    techs: list[Account] = [
        await login(bench_client, await make_user(sessions, tenant, Role.TECHNICIAN))
        for _ in range(3)
    ]
    task = uuid.uuid4()
    made = await push(bench_client, admin, "office", [upsert("task", task, "office", title="T")])
    to_third = {"user_id": str(techs[2].user_id)}
    assign = action(task, "assign", "office", base=version_of(made), fields=to_third)
    assigned = await push(bench_client, admin, "office", [assign])
    phases = [(0, version_of(made)), (version_of(made), version_of(assigned))]
    template = await tenant_seed.capture(raw, tenant.id, task, techs[2].user_id, phases)
    owners = [techs[n % 2].user_id for n in range(12)]

    last = await tenant_seed.seed(raw, tenant.id, template, owners, version_of(assigned))

    assert last == version_of(assigned) + 12 * 5  # two entries to create, three to assign
    snapshot, log = Replica(), Replica()
    snapshot.apply((await pull_all(bench_client, techs[0], None, limit=7))[0])
    log.apply((await pull_all(bench_client, techs[0], Cursor.at(0).encode(), limit=7))[0])
    assert snapshot.rows == log.rows
    kinds = [entity for entity, _ in snapshot.rows]
    assert sorted(set(kinds)) == ["task", "task_assignment", "task_event"]
    assert [kinds.count(k) for k in ("task", "task_assignment", "task_event")] == [6, 6, 12]
    every, _ = await pull_all(bench_client, admin, Cursor.at(0).encode(), limit=50)
    assert [c["version"] for c in every] == list(range(1, last + 1))  # gapless, in order
    assert all(c["data"]["version"] == c["version"] for c in every)  # each row where it is logged
    current, _ = await pull_all(bench_client, admin, None, limit=50)
    statuses = [c["data"]["status"] for c in current if c["entity"] == "task"]
    assert statuses == ["assigned"] * 13
