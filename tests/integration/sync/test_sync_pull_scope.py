"""What a pull hands out (PROTOCOL.md guarantees): snapshot pages then the log, a
technician's scope (assigned tasks only, dropped on unassign, an assignment's rows
sent once, the media of assigned tasks), and nothing of another tenant.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import Replica, action, hlc, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


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
