"""A technician's reads by task (storage/scoped_reads.py) give exactly the rows
of storage.log_reads's general statements, on SQLite and PostgreSQL.

The tenant holds every entity that hangs off a task, live and deleted, media
owned by a task, a purchase and a receipt (and by the tenant: no task's), and
rows of a task outside the scope; the reads by task must find the same rows
with the same values, in the same order, page by page.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage import log_reads, moved_rows, scoped_reads
from storage import sync_store as store
from storage.models import MediaAsset, Purchase, Receipt, Task, TaskAssignment, TaskEvent
from storage.models.tasks import ChecklistItem
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.sync import pull as pulling
from syncd.sync.cursor import Cursor
from tests.support.factories import make_tenant, make_user, signed_in
from tests.support.sync import Replica, action, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]
WHEN = datetime(2026, 11, 24, 9, 20, tzinfo=UTC)


async def _tenant_in_full(sessions: Sessions) -> tuple[uuid.UUID, set[uuid.UUID], uuid.UUID]:
    """A tenant with two tasks in scope and one outside; answers (tenant, the two, the other)."""
    tenant = await make_tenant(sessions)
    tech = (await make_user(sessions, tenant, Role.TECHNICIAN)).user_id
    mine = {uuid.uuid4(), uuid.uuid4()}
    other = uuid.uuid4()
    version = iter(range(1, 1000))
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        add = uow.session.add
        for n, task in enumerate([*sorted(mine), other]):
            add(Task(id=task, title=f"task {n}", version=next(version), location={"lat": 1.5}))
            await uow.flush()
            add(TaskAssignment(id=uuid.uuid4(), task_id=task, user_id=tech, version=next(version)))
            add(TaskEvent(id=uuid.uuid4(), task_id=task, kind="created", version=next(version)))
            add(ChecklistItem(id=uuid.uuid4(), task_id=task, label="seal", version=next(version)))
            for deleted in (None, WHEN):
                purchase = uuid.uuid4()
                add(
                    Purchase(
                        id=purchase,
                        task_id=task,
                        vendor="Pumps",
                        amount_minor=1250,
                        currency="EUR",
                        purchased_at=WHEN,
                        line_items=[{"sku": "A", "qty": 2}],
                        version=next(version),
                        deleted_at=deleted,
                    )
                )
                await uow.flush()
                receipt = uuid.uuid4()
                add(
                    Receipt(
                        id=receipt,
                        purchase_id=purchase,
                        task_id=task,
                        total_minor=1250,
                        currency="EUR",
                        issued_at=WHEN,
                        version=next(version),
                    )
                )
                for owner_type, owner_id in (
                    ("task", task),
                    ("purchase", purchase),
                    ("receipt", receipt),
                ):
                    add(_media(owner_type, owner_id, next(version), deleted))
        add(_media("tenant", None, next(version), None))
        await uow.commit()
    return tenant.id, mine, other


def _media(owner_type: str, owner_id: uuid.UUID | None, version: int, deleted: Any) -> MediaAsset:
    return MediaAsset(
        id=uuid.uuid4(),
        owner_type=owner_type,
        owner_id=owner_id,
        content_type="image/jpeg",
        declared_size=10,
        storage_key=f"k/{uuid.uuid4()}",
        version=version,
        deleted_at=deleted,
    )


def _visible(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """What a pull sends of each row (scoped reads leave the hidden columns out)."""
    return [(entity, store.row_to_json(entity, row)) for entity, row in rows]


async def test_a_snapshot_by_task_pages_through_the_same_rows(sessions: Sessions) -> None:
    tenant_id, mine, _ = await _tenant_in_full(sessions)
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        for entity in store.SNAPSHOT_ORDER:
            expected = await log_reads.snapshot_page(uow.session, entity, 10**6, None, 1000, mine)
            for upto in (10**6, 20):  # every version, and a snapshot taken half-way
                pages: list[dict[str, Any]] = []
                last = None
                while True:
                    page = await scoped_reads.snapshot_page(
                        uow.session, entity, upto, last, 2, mine
                    )
                    pages += page
                    if len(page) < 2:
                        break
                    last = page[-1]["id"]
                reference = await log_reads.snapshot_page(
                    uow.session, entity, upto, None, 1000, mine
                )
                assert _visible([(entity, r) for r in pages]) == _visible(
                    [(entity, r) for r in reference]
                )
            assert expected, f"the tenant holds live {entity} rows in scope"


async def test_the_rows_of_tasks_are_the_same_live_and_deleted(sessions: Sessions) -> None:
    tenant_id, mine, other = await _tenant_in_full(sessions)
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        for live_only in (True, False):
            found = await scoped_reads.rows_of_tasks(uow.session, mine, live_only=live_only)
            reference = await log_reads.rows_of_tasks(uow.session, mine, live_only=live_only)
            assert found.keys() == mine
            for task in mine:
                key = lambda pair: (store.SNAPSHOT_ORDER.index(pair[0]), str(pair[1]["id"]))  # noqa: E731
                assert sorted(_visible(found[task]), key=key) == sorted(
                    _visible(reference[task]), key=key
                )
                entities = {entity for entity, _ in found[task]}
                assert entities == set(store.SNAPSHOT_ORDER)  # media of every owner kind too
            assert all(
                row["task_id"] != other
                for rows in found.values()
                for e, row in rows
                if e != "task" and "task_id" in row
            )
        live = await scoped_reads.rows_of_tasks(uow.session, mine, live_only=True)
        every = await scoped_reads.rows_of_tasks(uow.session, mine, live_only=False)
        for task in mine:
            assert len(every[task]) > len(live[task])  # the deleted purchases and their media


async def test_a_technicians_pull_runs_cached_statements(sessions: Sessions, client: Any) -> None:
    """Every statement a technician's pull sends through SQLAlchemy is compiled
    once: pulled again with more tasks in scope, nothing is compiled anew (a
    tenant filter or an `IN` list that rebuilt statements per call would be)."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    tasks = [uuid.uuid4() for _ in range(4)]
    for task in tasks:
        await push(client, admin, "dash", [upsert("task", task, "dash", title="Seal")])

    async def turn(task: uuid.UUID, name: str) -> None:
        await push(client, admin, "dash", [action(task, name, "dash", fields=to_tech)])

    async def both_pulls() -> list[dict[str, Any]]:
        """From 0 (snapshot, then the log) and the whole log, in small pages."""
        await pull_all(client, tech, limit=2, client_id="phone")
        changes, _ = await pull_all(client, tech, since=Cursor.at(0).encode(), limit=2)
        return changes

    to_tech = {"user_id": str(tech.user_id)}
    first = ((0, "assign"), (2, "assign"), (3, "assign"), (3, "unassign"))
    for n, name in first:
        await turn(tasks[n], name)
    await both_pulls()  # compiles what a technician's pull needs
    for n, name in ((1, "assign"), (3, "assign"), (0, "unassign")):
        await turn(tasks[n], name)
    seen: list[tuple[str, str]] = []

    def note(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _: Any) -> None:
        if context is not None and hasattr(context, "cache_hit"):
            seen.append((str(context.cache_hit), statement[:80]))

    engine: AsyncEngine = client.app[appkeys.ENGINE]
    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        changes = await both_pulls()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
    replica = Replica()
    replica.apply(changes)
    held = {row_id for entity, row_id in replica.rows if entity == "task"}
    assert held == {str(task) for task in tasks[1:]}
    assert seen, "the pull ran statements through SQLAlchemy"
    compiled = [statement for hit, statement in seen if hit.endswith("CACHE_MISS")]
    assert not compiled, compiled


async def test_the_technicians_log_is_the_whole_logs_entries_of_their_share(
    sessions: Sessions, client: Any
) -> None:
    """Each entry read by task or assignee is the whole log's change, to the byte,
    and an assignment's entry names its technician and whether it assigns."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    tasks = [uuid.uuid4() for _ in range(3)]
    to_tech = {"user_id": str(tech.user_id)}
    for task in tasks:
        await push(client, admin, "dash", [upsert("task", task, "dash", title="Seal")])
    for n, name in ((0, "assign"), (1, "assign"), (1, "unassign")):
        await push(client, admin, "dash", [action(tasks[n], name, "dash", fields=to_tech)])
    await push(client, admin, "dash", [upsert("task", tasks[2], "dash", title="Not theirs")])
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        every, upto, _ = await log_reads.read_log_changes(uow.session, 0, 1000)
        whole = {orjson.loads(orjson.dumps(c))["version"]: orjson.dumps(c) for c in every}
        mine = await scoped_reads.read_log(uow.session, 0, upto, {tasks[0]}, tech.user_id, 1000)
    assert [e.version for e in mine] == sorted(e.version for e in mine)
    for entry in mine:
        assert orjson.dumps(entry.change) == whole[entry.version]
    assigning = [(e.task_id, e.active) for e in mine if e.assignee_id == tech.user_id]
    assert assigning == [(tasks[0], True), (tasks[1], True), (tasks[1], False)]
    share = {orjson.loads(orjson.dumps(e.change))["id"] for e in mine}
    assert str(tasks[2]) not in share  # another task's entries stay out
    assert all(e.task_id in (tasks[0], tasks[1]) for e in mine)
    # From half-way, up to a version: the bounds hold.
    later = await _read(
        sessions, admin.tenant.id, mine[2].version, mine[-2].version, tasks[0], tech
    )
    assert [e.version for e in later] == [e.version for e in mine[3:-1]]


async def _read(
    sessions: Sessions, tenant_id: uuid.UUID, after: int, upto: int, task: uuid.UUID, tech: Any
) -> list[scoped_reads.Entry]:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        return await scoped_reads.read_log(uow.session, after, upto, {task}, tech.user_id, 1000)


ODD_TEXT = 'a "quoted" \\ back\x01\x1f\x7f\b\f\n\r\t \u2028 é 😀 عربي </script>'


async def _tenant_of_odd_values(sessions: Sessions) -> tuple[uuid.UUID, set[uuid.UUID]]:
    """Two tasks whose rows hold the values JSON writers disagree on: escapes,
    times with and without microseconds (and before year 1000), floats that are
    whole, tiny, huge or not numbers, JSON with numbers as written and nesting."""
    tenant = await make_tenant(sessions)
    tech = (await make_user(sessions, tenant, Role.TECHNICIAN)).user_id
    tasks = {uuid.uuid4(), uuid.uuid4()}
    times = [WHEN, WHEN.replace(microsecond=120), datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)]
    floats = [1.0, 0.1, 1e20, 1e-7, -0.0, 123456789012.5, float("nan"), float("inf"), None]
    version = iter(range(1, 1000))
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        add = uow.session.add
        for n, task in enumerate(sorted(tasks)):
            location = {"lat": 1.5, "n": [1, 2.0, "x", None, True, {"z": -0.25}], "t": ODD_TEXT}
            add(
                Task(
                    id=task,
                    title=ODD_TEXT,
                    description="",
                    job_number=None if n else "J-1",
                    due_at=times[n],
                    scheduled_start=times[2],
                    scheduled_end=times[1],
                    version=next(version),
                    location=location if n else {},
                )
            )
            await uow.flush()
            add(TaskAssignment(id=uuid.uuid4(), task_id=task, user_id=tech, version=next(version)))
            for lat in floats:
                add(
                    TaskEvent(
                        id=uuid.uuid4(),
                        task_id=task,
                        kind="note",
                        client_id=ODD_TEXT[:100],
                        client_time=times[1],
                        lat=lat,
                        lng=-lat if lat is not None else 2.5,
                        accuracy_m=3.0,
                        payload={"text": ODD_TEXT, "amount": 1.25, "big": 2**62},
                        version=next(version),
                    )
                )
            add(
                Purchase(
                    id=uuid.uuid4(),
                    task_id=task,
                    vendor=ODD_TEXT,
                    amount_minor=-5,
                    currency="EUR",
                    purchased_at=times[n],
                    line_items=[{"sku": ODD_TEXT, "qty": 2, "price": 0.5}],
                    media_ids=[],
                    version=next(version),
                )
            )
            add(ChecklistItem(id=uuid.uuid4(), task_id=task, label=ODD_TEXT, version=next(version)))
            add(_media("task", task, next(version), None))
        await uow.commit()
    return tenant.id, tasks


async def test_moved_rows_carry_the_json_python_writes_to_the_byte(sessions: Sessions) -> None:
    """The rows an assignment brings, their `data` written by the database (on
    PostgreSQL), are the bytes orjson writes of `row_to_json` of the same rows,
    for every entity and column kind; and the change made of one is the bytes of
    the pulled change made in Python."""
    for tenant_id, tasks in (
        await _tenant_of_odd_values(sessions),
        (await _tenant_in_full(sessions))[:2],
    ):
        async with TenantUnitOfWork(sessions, tenant_id) as uow:
            moved = await moved_rows.moved_rows_of_tasks(uow.session, dict.fromkeys(tasks, 10**12))
            reference = await log_reads.rows_of_tasks(uow.session, tasks, live_only=True)
            half = {task: sorted(r["version"] for _, r in reference[task])[3] for task in tasks}
            early = await moved_rows.moved_rows_of_tasks(uow.session, half)
        assert moved.keys() == reference.keys() == tasks
        for task in tasks:
            key = lambda pair: (store.SNAPSHOT_ORDER.index(pair[0]), str(pair[1]["id"]))  # noqa: E731
            expected = sorted(reference[task], key=key)
            rows = sorted(
                moved[task], key=lambda m: (store.SNAPSHOT_ORDER.index(m.entity), str(m.id))
            )
            assert [(m.entity, m.id, m.version) for m in rows] == [
                (entity, row["id"], row["version"]) for entity, row in expected
            ]
            for row, (entity, value) in zip(rows, expected, strict=True):
                assert row.data == orjson.dumps(store.row_to_json(entity, value)).decode()
                for version in (value["version"], 10**12):
                    made = orjson.dumps(pulling.upsert_at(row, version))
                    assert made == orjson.dumps(pulling.pulled(entity, value, "upsert", version))
            assert {m.entity for m in moved[task]} >= {"task", "task_event", "purchase"}
            # Up to a version: the rows at or below it (media may come at any version).
            assert {(m.entity, m.id) for m in early[task] if m.entity != "media_asset"} == {
                (entity, row["id"])
                for entity, row in reference[task]
                if row["version"] <= half[task] and entity != "media_asset"
            }
            assert len(early[task]) < len(moved[task])
