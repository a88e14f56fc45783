"""The conflict inbox: list, diff, resolve one and many; devices converge to it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import Replica, action, hlc, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def priority_conflict(client: Any, admin: Account, staff: Account) -> tuple[str, str]:
    """Two devices set a task's priority concurrently; answers (task id, conflict id)."""
    task_id = uuid.uuid4()
    created = await push(
        client, staff, "a", [upsert("task", task_id, "a", title="t", priority="normal")]
    )
    base = created["results"][0]["version"]
    await push(client, staff, "b", [upsert("task", task_id, "b", base=base, priority="high")])
    answer = await push(
        client, staff, "a", [upsert("task", task_id, "a", base=base, priority="low")]
    )
    assert answer["results"][0]["status"] == "conflict"
    return str(task_id), answer["results"][0]["conflict_id"]


async def setup(client: Any, sessions: Sessions) -> tuple[Account, Account]:
    tenant = await make_tenant(sessions)
    return (
        await signed_in(client, sessions, Role.ADMIN, tenant),
        await signed_in(client, sessions, Role.STAFF, tenant),
    )


async def test_list_and_read_a_field_level_diff(client: Any, sessions: Sessions) -> None:
    admin, staff = await setup(client, sessions)
    task_id, conflict_id = await priority_conflict(client, admin, staff)
    listed = await client.get("/conflicts?status=open&entity=task", headers=admin.headers)
    items = (await listed.json())["items"]
    assert [i["id"] for i in items] == [conflict_id]
    assert items[0]["kind"] == "concurrent_edit"
    by_device = await client.get("/conflicts?device=b", headers=admin.headers)
    assert (await by_device.json())["items"] == []
    detail = await (await client.get(f"/conflicts/{conflict_id}", headers=admin.headers)).json()
    assert detail["diff"] == [
        {"field": "priority", "base": "normal", "server": "high", "client": "low"}
    ]
    assert detail["client_id"] == "a"
    assert detail["server_client_id"] == "b"
    assert detail["current"]["id"] == task_id


async def test_keep_server_reverts_the_provisional_winner_everywhere(
    client: Any, sessions: Sessions
) -> None:
    admin, staff = await setup(client, sessions)
    task_id, conflict_id = await priority_conflict(client, admin, staff)
    phone = Replica()
    await phone.sync(client, staff)
    assert phone.rows[("task", task_id)]["priority"] == "low"  # LWW, provisionally
    response = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()
    await phone.sync(client, staff)
    assert phone.rows[("task", task_id)]["priority"] == "high"
    again = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=admin.headers,
    )
    assert (await again.json(content_type=None))["code"] == "conflict_already_resolved"
    # A device that still holds the old stamp cannot undo the resolution.
    late = await push(
        client,
        staff,
        "a",
        [
            upsert("task", uuid.UUID(task_id), "a", base=1, priority="urgent")
            | {"hlc": "1764000000000:0000:a"}
        ],
    )
    assert late["results"][0]["status"] in ("superseded", "conflict")
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        actions = (await uow.session.execute(select(AuditEntry.action))).scalars().all()
        assert "conflict_resolved" in actions


async def test_custom_values_are_validated(client: Any, sessions: Sessions) -> None:
    admin, staff = await setup(client, sessions)
    task_id, conflict_id = await priority_conflict(client, admin, staff)
    bad = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "custom", "values": {"priority": "sometime"}},
        headers=admin.headers,
    )
    assert bad.status == 422
    missing = await client.post(
        f"/conflicts/{conflict_id}/resolve", json={"resolution": "custom"}, headers=admin.headers
    )
    assert missing.status == 422
    good = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "custom", "values": {"priority": "urgent"}},
        headers=admin.headers,
    )
    assert good.status == 200
    phone = Replica()
    await phone.sync(client, staff)
    assert phone.rows[("task", task_id)]["priority"] == "urgent"


async def test_bulk_resolve_and_stale_action(client: Any, sessions: Sessions) -> None:
    admin, staff = await setup(client, sessions)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, admin.tenant)
    _, first = await priority_conflict(client, admin, staff)
    _, second = await priority_conflict(client, admin, staff)
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
    await push(
        client, tech, "p1", [action(task_id, "start", "p1"), action(task_id, "complete", "p1")]
    )
    stale = await push(client, tech, "p2", [action(task_id, "pause", "p2")])
    stale_id = stale["results"][0]["conflict_id"]
    take = await client.post(
        f"/conflicts/{stale_id}/resolve", json={"resolution": "take_client"}, headers=admin.headers
    )
    assert (await take.json(content_type=None))["code"] == "resolution_invalid"
    reopen = await client.post(
        f"/conflicts/{stale_id}/resolve",
        json={"resolution": "custom", "values": {"status": "paused"}},
        headers=admin.headers,
    )
    assert reopen.status == 200
    phone = Replica()
    await phone.sync(client, tech)
    assert phone.rows[("task", str(task_id))]["status"] == "paused"
    bulk = await client.post(
        "/conflicts/resolve",
        json={"ids": [first, second], "resolution": "take_client"},
        headers=admin.headers,
    )
    assert [r["status"] for r in (await bulk.json())["results"]] == ["resolved", "resolved"]
    open_left = await (await client.get("/conflicts?status=open", headers=admin.headers)).json()
    assert open_left["items"] == []


async def test_delete_against_update_can_be_undone(client: Any, sessions: Sessions) -> None:
    admin, staff = await setup(client, sessions)
    task_id = uuid.uuid4()
    await push(client, staff, "a", [upsert("task", task_id, "a", title="t")])
    await push(client, staff, "b", [upsert("task", task_id, "b", base=1, title="edited")])
    deleted = await push(
        client,
        staff,
        "a",
        [
            {
                "entity": "task",
                "id": str(task_id),
                "op": "delete",
                "hlc": hlc("a"),
                "base_version": 1,
            }
        ],
    )
    conflict_id = deleted["results"][0]["conflict_id"]
    phone = Replica()
    await phone.sync(client, staff)
    assert ("task", str(task_id)) not in phone.rows
    response = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=admin.headers,
    )
    assert response.status == 200
    await phone.sync(client, staff)
    assert phone.rows[("task", str(task_id))]["title"] == "edited"


async def test_inbox_is_admin_only_and_tenant_bound(client: Any, sessions: Sessions) -> None:
    admin, staff = await setup(client, sessions)
    _, conflict_id = await priority_conflict(client, admin, staff)
    assert (await client.get("/conflicts", headers=staff.headers)).status == 403
    other = await signed_in(client, sessions, Role.ADMIN)
    listed = await (await client.get("/conflicts", headers=other.headers)).json()
    assert listed["items"] == []
    read = await client.get(f"/conflicts/{conflict_id}", headers=other.headers)
    assert read.status == 404
    resolve = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=other.headers,
    )
    assert resolve.status == 404
    bulk = await client.post(
        "/conflicts/resolve",
        json={"ids": [conflict_id], "resolution": "keep_server"},
        headers=other.headers,
    )
    assert bulk.status == 404
    for query in (
        "status=maybe",
        "since=yesterday",
        "user=nope",
        "limit=0",
        "cursor=WzEsIDJd",
        "cursor=WyJ4IiwgInkiXQ",
        "cursor=%%%",
    ):
        assert (await client.get(f"/conflicts?{query}", headers=admin.headers)).status == 422
    assert (await client.get("/conflicts/not-a-uuid", headers=admin.headers)).status == 422
