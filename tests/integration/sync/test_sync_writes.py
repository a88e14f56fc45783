"""How pushed writes land (PROTOCOL.md guarantees): a concurrent edit of a guarded
field opens a conflict, a stale action is refused into the timeline and inbox,
server-side writes go through the same log, and a large mixed batch comes out
whole and in order.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Conflict, TaskEvent
from storage.unit_of_work import TenantUnitOfWork
from syncd.sync.cursor import Cursor
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import Replica, action, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def test_concurrent_edit_of_a_guarded_field_opens_a_conflict(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = uuid.uuid4()
    await push(client, staff, "a", [upsert("task", task_id, "a", title="t", priority="normal")])
    await push(client, staff, "b", [upsert("task", task_id, "b", base=1, priority="high")])
    answer = await push(client, staff, "a", [upsert("task", task_id, "a", base=1, priority="low")])
    (result,) = answer["results"]
    assert result["status"] == "conflict"
    assert result["conflict_id"]
    async with TenantUnitOfWork(sessions, staff.tenant.id) as uow:
        conflict = await uow.session.get(
            Conflict, (staff.tenant.id, uuid.UUID(result["conflict_id"]))
        )
        assert conflict is not None
        assert conflict.fields == ["priority"]
        assert conflict.server == {"priority": "high"}
        assert conflict.client == {"priority": "low"}
    # Both devices converge to the provisional LWW winner (the later stamp: "low").
    changes, _ = await pull_all(client, staff)
    (task,) = [c for c in changes if c["entity"] == "task"]
    assert task["data"]["priority"] == "low"


async def test_stale_action_is_refused_into_the_timeline_and_inbox(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task_id = uuid.uuid4()
    await push(
        client,
        staff,
        "dash",
        [
            upsert("task", task_id, "dash", title="t"),
            action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)}),
        ],
    )
    geo = {"lat": 24.7, "lng": 46.7, "accuracy_m": 8}
    ok = await push(
        client,
        tech,
        "phone-a",
        [
            action(
                task_id, "start", "phone-a", base=2, geo=geo, client_time="2026-11-24T08:00:00Z"
            ),
            action(task_id, "complete", "phone-a", base=2),
        ],
    )
    assert [r["status"] for r in ok["results"]] == ["applied", "applied"]
    stale = await push(client, tech, "phone-b", [action(task_id, "start", "phone-b", base=2)])
    (result,) = stale["results"]
    assert result["status"] == "conflict"
    assert result["current"]["status"] == "completed"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        kinds = (
            await uow.session.execute(
                select(TaskEvent.kind, TaskEvent.refused, TaskEvent.lat)
                .where(TaskEvent.task_id == task_id)
                .order_by(TaskEvent.server_time, TaskEvent.version)
            )
        ).all()
        assert [k for k, _, _ in kinds] == [
            "created",
            "assigned",
            "started",
            "completed",
            "action_refused",
        ]
        assert kinds[2][2] == 24.7
        assert kinds[-1][1] is True
        count = await uow.session.scalar(
            select(func.count()).select_from(Conflict).where(Conflict.kind == "stale_action")
        )
        assert count == 1


async def test_server_side_writes_go_through_the_same_log(
    client: Any, app: Any, sessions: Sessions
) -> None:
    from syncd import appkeys

    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = uuid.uuid4()
    created = await push(client, staff, "d", [upsert("task", task_id, "d", title="by device")])
    version = await app[appkeys.SYNC].server_upsert(
        staff.tenant.id, staff.user_id, "task", task_id, {"status": "rejected"}
    )
    assert version == created["results"][0]["version"] + 2  # after the task and its event
    changes, _ = await pull_all(client, staff)
    (task,) = [c for c in changes if c["entity"] == "task"]
    assert task["data"]["status"] == "rejected"
    assert task["data"]["title"] == "by device"
    # A device's later write of another field merges; the server's field stands.
    later = await push(
        client, staff, "d", [upsert("task", task_id, "d", base=version, title="renamed")]
    )
    assert later["results"][0]["status"] == "applied"


async def test_a_large_mixed_batch_comes_out_whole_and_in_order(
    client: Any, sessions: Sessions
) -> None:
    """A push of 300-odd changes mixing creations, a purchase of a task created
    earlier in the batch, assignments (which read through the session) and an
    edit of a row created in the same batch: every change applies, the log
    from 0 is gapless and in order and rebuilds exactly the snapshot, the
    technician receives only the tasks assigned to them, another tenant none."""
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    other = await signed_in(client, sessions, Role.ADMIN)
    tasks = [uuid.uuid4() for _ in range(300)]
    changes = [upsert("task", t, "dash", title=f"job {n}") for n, t in enumerate(tasks)]
    purchase = uuid.uuid4()
    mixed = [
        *changes[:140],
        action(tasks[3], "assign", "dash", fields={"user_id": str(tech.user_id)}),
        upsert(
            "purchase",
            purchase,
            "dash",
            task_id=str(tasks[10]),
            vendor="Pipes & Co",
            amount_minor=300,
            currency="EUR",
            purchased_at="2026-11-24T09:30:00Z",
        ),
        *changes[140:260],
        action(tasks[250], "assign", "dash", fields={"user_id": str(tech.user_id)}),
        upsert("task", tasks[5], "dash", title="job 5, renamed"),
        *changes[260:],
    ]
    answer = await push(client, staff, "dash", mixed)
    assert [r["status"] for r in answer["results"]] == ["applied"] * len(mixed), [
        r for r in answer["results"] if r["status"] != "applied"
    ]

    office = Replica()  # from the snapshot
    await office.sync(client, staff, limit=97)
    assert {office.rows[("task", str(t))]["title"] for t in tasks} >= {"job 5, renamed"}
    assert len([k for k in office.rows if k[0] == "task"]) == 300
    assert office.rows[("purchase", str(purchase))]["task_id"] == str(tasks[10])
    assert office.rows[("task", str(tasks[250]))]["status"] == "assigned"
    log = Replica()  # from the change log
    log.apply((await pull_all(client, staff, since=Cursor.at(0).encode(), limit=97))[0])
    assert log.versions == list(range(1, len(log.versions) + 1))  # gapless, in order
    assert log.rows == office.rows
    phone = Replica()
    await phone.sync(client, tech)
    assert {row_id for entity, row_id in phone.rows if entity == "task"} == {
        str(tasks[3]),
        str(tasks[250]),
    }
    theirs = Replica()
    await theirs.sync(client, other)
    assert not any(row_id in {str(t) for t in tasks} for _, row_id in theirs.rows)
