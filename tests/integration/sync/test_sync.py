"""Push and pull through the real app and databases (PROTOCOL.md guarantees)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Conflict, Device, TaskEvent, TenantVersion
from storage.unit_of_work import TenantUnitOfWork
from syncd.sync.cursor import Cursor
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import Replica, action, hlc, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def tenant_version(sessions: Sessions, tenant_id: uuid.UUID) -> int:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        return int(await uow.session.scalar(select(TenantVersion.version)) or 0)


async def test_push_then_pull_from_zero_and_from_cursor(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = uuid.uuid4()
    answer = await push(
        client, staff, "dash-1", [upsert("task", task_id, "dash-1", title="Fix pump")]
    )
    (result,) = answer["results"]
    assert result == {"id": str(task_id), "status": "applied", "version": 1}
    changes, cursor = await pull_all(client, staff)
    assert [(c["entity"], c["op"]) for c in changes] == [
        ("task", "upsert"),
        ("task_event", "upsert"),
    ]
    assert changes[0]["id"] == str(task_id)
    # Creating a task opens its timeline.
    assert (changes[1]["data"]["kind"], changes[1]["data"]["task_id"]) == ("created", str(task_id))
    assert changes[0]["data"]["title"] == "Fix pump"
    assert changes[0]["data"]["status"] == "open"
    assert "field_clocks" not in changes[0]["data"]
    again, _ = await pull_all(client, staff, since=cursor)
    assert again == []
    await push(
        client, staff, "dash-1", [upsert("task", task_id, "dash-1", base=1, title="Fix pump 2")]
    )
    later, _ = await pull_all(client, staff, since=cursor)
    assert [(c["version"], c["data"]["title"]) for c in later] == [(3, "Fix pump 2")]


async def test_resent_batch_answers_the_first_answer_and_applies_nothing(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    changes = [upsert("task", uuid.uuid4(), "dev", title=f"t{i}") for i in range(3)]
    first = await push(client, staff, "dev", changes, batch_id="b-1")
    version = await tenant_version(sessions, staff.tenant.id)
    second = await push(client, staff, "dev", changes, batch_id="b-1")
    assert second == first
    assert await tenant_version(sessions, staff.tenant.id) == version == 6  # 3 tasks, 3 events


async def test_a_resend_leaves_the_device_as_its_first_send_did(
    client: Any, sessions: Sessions
) -> None:
    """The resend lookup and the device binding are one statement on PostgreSQL: a
    resend writes nothing, not even the device's last sighting; another user's
    resend of the batch is refused."""
    tenant = await make_tenant(sessions)
    one = await signed_in(client, sessions, Role.STAFF, tenant)
    two = await signed_in(client, sessions, Role.STAFF, tenant)
    changes = [upsert("task", uuid.uuid4(), "tab-3", title="t")]
    first = await push(client, one, "tab-3", changes, batch_id="b-9")

    async def device_state() -> tuple[Any, ...]:
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            device = await uow.session.get(Device, (tenant.id, "tab-3"))
            assert device is not None
            return (device.user_id, device.last_seen_at, device.last_push_at, device.schema)

    before = await device_state()
    assert await push(client, one, "tab-3", changes, batch_id="b-9") == first
    refused = await push(client, two, "tab-3", changes, batch_id="b-9", status=403)
    assert refused["code"] == "client_id_taken"
    assert await device_state() == before


async def test_client_id_is_bound_to_its_first_user(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    one = await signed_in(client, sessions, Role.STAFF, tenant)
    two = await signed_in(client, sessions, Role.STAFF, tenant)
    await push(client, one, "phone-7", [upsert("task", uuid.uuid4(), "phone-7", title="a")])
    refused = await push(
        client, two, "phone-7", [upsert("task", uuid.uuid4(), "phone-7", title="b")], status=403
    )
    assert refused["code"] == "client_id_taken"
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        device = await uow.session.get(Device, (tenant.id, "phone-7"))
        assert device is not None
        seen = (device.user_id, device.last_seen_at, device.last_push_counts)
    await push(
        client, two, "phone-7", [upsert("task", uuid.uuid4(), "phone-7", title="c")], status=403
    )
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        device = await uow.session.get(Device, (tenant.id, "phone-7"))
        assert device is not None
        assert (device.user_id, device.last_seen_at, device.last_push_counts) == seen
    assert seen[0] == one.user_id


async def test_a_tenants_first_pushes_may_race(client: Any, sessions: Sessions) -> None:
    """The tenant's version row is created by its first write; concurrent first
    writes all succeed and get distinct versions."""
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        await uow.session.execute(delete(TenantVersion))
        await uow.commit()
    answers = await asyncio.gather(
        *(
            push(client, staff, f"dev-{n}", [upsert("task", uuid.uuid4(), f"dev-{n}", title="t")])
            for n in range(6)
        )
    )
    versions = [a["results"][0]["version"] for a in answers]
    assert len(set(versions)) == 6
    replica = Replica()
    await replica.sync(client, staff)
    assert len([key for key in replica.rows if key[0] == "task"]) == 6


async def test_bad_changes_are_rejected_one_by_one(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    good = uuid.uuid4()
    answer = await push(
        client,
        staff,
        "dev",
        [
            upsert("gadget", uuid.uuid4(), "dev", title="x"),
            upsert("task", uuid.uuid4(), "dev", title=42),
            upsert("task", uuid.uuid4(), "dev", title="x", colour="red"),
            upsert("task", uuid.uuid4(), "dev", description="no title"),
            {"entity": "task", "id": "not-a-uuid", "op": "upsert", "fields": {}, "hlc": "nope"},
            upsert(
                "purchase",
                uuid.uuid4(),
                "dev",
                vendor="V",
                amount_minor=100,
                currency="eur",
                purchased_at="2026-01-01T00:00:00Z",
            ),
            upsert(
                "receipt",
                uuid.uuid4(),
                "dev",
                purchase_id=str(uuid.uuid4()),
                total_minor=1,
                currency="EUR",
                issued_at="2026-01-01T00:00:00Z",
            ),
            upsert("task", good, "dev", title="fine"),
            "not an object",
            ["nor", "this"],
        ],
    )
    statuses = [(r["status"], r.get("problem", {}).get("code")) for r in answer["results"]]
    assert statuses == [
        ("rejected", "unknown_entity"),
        ("rejected", "validation_failed"),
        ("rejected", "validation_failed"),
        ("rejected", "validation_failed"),
        ("rejected", "validation_failed"),
        ("rejected", "validation_failed"),
        ("rejected", "unknown_reference"),
        ("applied", None),
        ("rejected", "validation_failed"),
        ("rejected", "validation_failed"),
    ]
    assert answer["results"][-1]["problem"]["errors"][0]["code"] == "dict_type"
    fields = {e["field"] for e in answer["results"][2]["problem"]["errors"]}
    assert fields == {"colour"}
    assert answer["results"][3]["problem"]["errors"][0]["field"] == "title"


async def test_malformed_body_and_limits(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    bad = await client.post(
        "/sync/push", data=b"{", headers={**staff.headers, "Content-Type": "application/json"}
    )
    assert (await bad.json(content_type=None))["code"] == "malformed_json"
    empty = await client.post(
        "/sync/push", json={"client_id": "d", "batch_id": "b", "changes": []}, headers=staff.headers
    )
    assert empty.status == 422
    many = [upsert("task", uuid.uuid4(), "d", title="x") for _ in range(501)]
    too_many = await push(client, staff, "d", many, status=413)
    assert too_many["code"] == "batch_too_large"
    for query in ("limit=0", "limit=abc", "limit=5001", "since=garbage"):
        response = await client.get(f"/sync/pull?{query}", headers=staff.headers)
        assert response.status == 422, query


async def test_snapshot_pages_and_then_follows_the_log(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    ids = [uuid.uuid4() for _ in range(7)]
    await push(
        client, staff, "d", [upsert("task", i, "d", title=str(n)) for n, i in enumerate(ids)]
    )
    replica = Replica()
    await replica.sync(client, staff, limit=3)
    assert {row_id for entity, row_id in replica.rows if entity == "task"} == {str(i) for i in ids}
    await push(
        client,
        staff,
        "d",
        [{"entity": "task", "id": str(ids[0]), "op": "delete", "hlc": hlc("d"), "base_version": 7}],
    )
    await replica.sync(client, staff, limit=3)
    assert ("task", str(ids[0])) not in replica.rows
    assert sum(entity == "task" for entity, _ in replica.rows) == 6


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


async def test_technician_sees_only_assigned_tasks_and_drops_them_on_unassign(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    mine, other = uuid.uuid4(), uuid.uuid4()
    await push(
        client,
        staff,
        "dash",
        [upsert("task", mine, "dash", title="mine"), upsert("task", other, "dash", title="other")],
    )
    phone = Replica()
    await phone.sync(client, tech)
    assert phone.rows == {}
    await push(
        client,
        staff,
        "dash",
        [action(mine, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    await phone.sync(client, tech)
    entities = {(entity, row_id) for entity, row_id in phone.rows}
    assert ("task", str(mine)) in entities
    assert ("task", str(other)) not in entities
    assert any(e == "task_assignment" for e, _ in entities)
    assert phone.rows[("task", str(mine))]["status"] == "assigned"
    # A fresh device gets the same through the snapshot.
    fresh = Replica()
    await fresh.sync(client, tech)
    assert fresh.rows == phone.rows
    refused = await push(client, tech, "phone", [upsert("task", other, "phone", title="hack")])
    assert refused["results"][0]["problem"]["code"] == "forbidden"
    await push(
        client,
        staff,
        "dash",
        [action(mine, "unassign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    await phone.sync(client, tech)
    assert phone.rows == {}


async def test_an_assignment_sends_the_tasks_rows_once(client: Any, sessions: Sessions) -> None:
    """A technician's pull expands an assignment into the task's rows; rows
    changed after it arrive in their own later entries, not twice."""
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task = uuid.uuid4()
    await push(client, staff, "dash", [upsert("task", task, "dash", title="leak")])
    phone = Replica()
    await phone.sync(client, tech)  # the snapshot: nothing yet
    await push(
        client,
        staff,
        "dash",
        [action(task, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    for n in range(3):  # edits after the assignment
        await push(client, staff, "dash", [upsert("task", task, "dash", title=f"leak {n}")])
    changes, _ = await pull_all(client, tech, since=phone.cursor, limit=2)
    delivered = [(c["entity"], c["id"], c["data"].get("version")) for c in changes]
    assert len(delivered) == len(set(delivered))  # no state twice
    phone.apply(changes)
    fresh = Replica()
    await fresh.sync(client, tech)
    assert phone.rows == fresh.rows
    assert phone.rows[("task", str(task))]["title"] == "leak 2"


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


async def test_another_tenant_sees_nothing_and_cannot_reference(
    client: Any, sessions: Sessions
) -> None:
    mine = await signed_in(client, sessions, Role.STAFF)
    theirs = await signed_in(client, sessions, Role.ADMIN)
    task_id = uuid.uuid4()
    await push(client, mine, "m", [upsert("task", task_id, "m", title="secret")])
    changes, _ = await pull_all(client, theirs)
    assert changes == []
    answer = await push(
        client,
        theirs,
        "t",
        [
            upsert(
                "purchase",
                uuid.uuid4(),
                "t",
                task_id=str(task_id),
                vendor="V",
                amount_minor=1,
                currency="EUR",
                purchased_at="2026-01-01T00:00:00Z",
            ),
            action(task_id, "start", "t"),
        ],
    )
    assert [r["problem"]["code"] for r in answer["results"]] == ["unknown_reference", "not_found"]
    # The same UUID in another tenant is another row: mine is untouched.
    await push(client, theirs, "t", [upsert("task", task_id, "t", title="theirs")])
    mine_now, _ = await pull_all(client, mine)
    assert [c["data"]["title"] for c in mine_now if c["entity"] == "task"] == ["secret"]
    # Another tenant's token naming my tenant is refused outright.
    crossed = await client.get(
        "/sync/pull", headers={**theirs.headers, "X-Tenant": mine.tenant.slug}
    )
    assert crossed.status == 403


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


async def test_technician_snapshot_includes_media_of_assigned_tasks(
    client: Any, app: Any, sessions: Sessions
) -> None:
    from syncd import appkeys

    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    mine, other, purchase = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await push(
        client,
        staff,
        "dash",
        [
            upsert("task", mine, "dash", title="mine"),
            upsert("task", other, "dash", title="other"),
            upsert(
                "purchase",
                purchase,
                "dash",
                task_id=str(mine),
                vendor="V",
                amount_minor=1,
                currency="EUR",
                purchased_at="2026-11-24T09:00:00Z",
            ),
            action(mine, "assign", "dash", fields={"user_id": str(tech.user_id)}),
        ],
    )
    sync = app[appkeys.SYNC]
    media = {}
    for owner_type, owner_id, task_id in (
        ("task", mine, mine),
        ("purchase", purchase, mine),
        ("task", other, other),
    ):
        media_id = uuid.uuid4()
        media[(owner_type, owner_id)] = media_id
        await sync.server_upsert(
            tenant.id,
            staff.user_id,
            "media_asset",
            media_id,
            {
                "owner_type": owner_type,
                "owner_id": str(owner_id),
                "content_type": "image/png",
                "declared_size": 10,
                "storage_key": f"k/{media_id}",
                "status": "uploaded",
            },
            task_id=task_id,
        )
    fresh = Replica()
    await fresh.sync(client, tech)
    seen = {row_id for entity, row_id in fresh.rows if entity == "media_asset"}
    assert seen == {str(media[("task", mine)]), str(media[("purchase", purchase)])}


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
