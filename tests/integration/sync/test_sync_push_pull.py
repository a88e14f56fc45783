"""Push and pull through the real app and databases (PROTOCOL.md guarantees): a
push pulled from zero and from a cursor, resent batches answered as first and
applied once, a client id bound to its first user, a tenant's first pushes racing,
bad changes rejected one by one, malformed bodies and limits.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Device, TenantVersion
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import Replica, pull_all, push, upsert

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
