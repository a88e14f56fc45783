"""Sync health for admins: devices and lag, rejected changes kept and replayed,
and POST /sync/tasks (push restricted to tasks, with conflict information)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def team(client: Any, sessions: Sessions) -> tuple[Account, Account]:
    tenant = await make_tenant(sessions)
    return (
        await signed_in(client, sessions, Role.ADMIN, tenant),
        await signed_in(client, sessions, Role.STAFF, tenant),
    )


async def test_devices_show_cursor_lag_and_last_push(client: Any, sessions: Sessions) -> None:
    admin, staff = await team(client, sessions)
    await push(
        client,
        staff,
        "tablet-1",
        [
            upsert("task", uuid.uuid4(), "tablet-1", title="a"),
            upsert("gadget", uuid.uuid4(), "tablet-1", x=1),
        ],
    )
    await pull_all(client, staff, client_id="tablet-1")
    await push(client, staff, "tablet-1", [upsert("task", uuid.uuid4(), "tablet-1", title="b")])
    answer = await (await client.get("/sync/devices", headers=admin.headers)).json()
    (device,) = answer["items"]
    assert device["client_id"] == "tablet-1"
    assert device["email"] == staff.email
    assert answer["tenant_version"] == 4  # two tasks, each with its "created" event
    assert device["cursor_version"] == 2
    assert device["lag"] == 2
    assert device["last_push_counts"] == {"applied": 1}
    other = await signed_in(client, sessions, Role.ADMIN)
    assert (await (await client.get("/sync/devices", headers=other.headers)).json())["items"] == []
    assert (await client.get("/sync/devices", headers=staff.headers)).status == 403


async def test_a_rejected_change_is_kept_and_replayed_once_fixed(
    client: Any, sessions: Sessions
) -> None:
    admin, staff = await team(client, sessions)
    purchase_id = uuid.uuid4()
    receipt = upsert(
        "receipt",
        uuid.uuid4(),
        "phone",
        purchase_id=str(purchase_id),
        total_minor=1250,
        currency="EUR",
        issued_at="2026-11-24T10:00:00Z",
    )
    answer = await push(client, staff, "phone", [receipt])
    assert answer["results"][0]["problem"]["code"] == "unknown_reference"
    listed = await (await client.get("/sync/rejections?status=open", headers=admin.headers)).json()
    (rejection,) = listed["items"]
    assert rejection["change"]["id"] == receipt["id"]
    assert rejection["problem"]["code"] == "unknown_reference"
    still = await client.post(f"/sync/rejections/{rejection['id']}/replay", headers=admin.headers)
    assert (await still.json())["status"] == "open"
    # The cause is fixed: the purchase arrives. The replay now applies.
    await push(
        client,
        staff,
        "phone",
        [
            upsert(
                "purchase",
                purchase_id,
                "phone",
                vendor="Hardware",
                amount_minor=1250,
                currency="EUR",
                purchased_at="2026-11-24T09:00:00Z",
            )
        ],
    )
    replayed = await client.post(
        f"/sync/rejections/{rejection['id']}/replay", headers=admin.headers
    )
    body = await replayed.json()
    assert body["status"] == "replayed"
    assert body["result"]["status"] == "applied"
    changes, _ = await pull_all(client, staff)
    assert ("receipt", receipt["id"]) in {(c["entity"], c["id"]) for c in changes}
    closed = await client.post(f"/sync/rejections/{rejection['id']}/replay", headers=admin.headers)
    assert (await closed.json(content_type=None))["code"] == "rejection_closed"


async def test_dismiss_and_tenancy_of_rejections(client: Any, sessions: Sessions) -> None:
    admin, staff = await team(client, sessions)
    await push(client, staff, "p", [upsert("gadget", uuid.uuid4(), "p", x=1)])
    (rejection,) = (await (await client.get("/sync/rejections", headers=admin.headers)).json())[
        "items"
    ]
    other = await signed_in(client, sessions, Role.ADMIN)
    assert (await (await client.get("/sync/rejections", headers=other.headers)).json())[
        "items"
    ] == []
    for verb in ("replay", "dismiss"):
        response = await client.post(
            f"/sync/rejections/{rejection['id']}/{verb}", headers=other.headers
        )
        assert response.status == 404
    dismissed = await client.post(
        f"/sync/rejections/{rejection['id']}/dismiss", headers=admin.headers
    )
    assert (await dismissed.json())["status"] == "dismissed"
    for bad in (
        "/sync/rejections?status=maybe",
        "/sync/rejections?limit=9999",
        "/sync/rejections?cursor=WzEsIDJd",
        "/sync/rejections?cursor=WyJ4IiwgInkiXQ",
    ):
        assert (await client.get(bad, headers=admin.headers)).status == 422
    assert (await client.post("/sync/rejections/nope/replay", headers=admin.headers)).status == 422


async def test_sync_tasks_answers_conflict_information(client: Any, sessions: Sessions) -> None:
    _admin, staff = await team(client, sessions)
    task_id = uuid.uuid4()
    created = await push(
        client, staff, "a", [upsert("task", task_id, "a", title="t", priority="normal")]
    )
    base = created["results"][0]["version"]
    await push(client, staff, "b", [upsert("task", task_id, "b", base=base, priority="high")])
    response = await client.post(
        "/sync/tasks",
        json={
            "client_id": "a",
            "batch_id": "offline-1",
            "changes": [
                upsert("task", task_id, "a", base=base, priority="low"),
                upsert("purchase", uuid.uuid4(), "a", vendor="x"),
            ],
        },
        headers=staff.headers,
    )
    body = await response.json()
    assert [r["status"] for r in body["results"]] == ["conflict", "rejected"]
    assert body["results"][1]["problem"]["code"] == "wrong_entity"
    (conflict,) = body["conflicts"]
    assert conflict["id"] == str(task_id)
    assert conflict["server"]["priority"] == "low"
    assert conflict["updated_at"] == conflict["server"]["updated_at"]
    other = await signed_in(client, sessions, Role.STAFF)
    theirs = await client.post(
        "/sync/tasks",
        json={
            "client_id": "z",
            "batch_id": "1",
            "changes": [upsert("task", task_id, "z", base=0, priority="low")],
        },
        headers=other.headers,
    )
    # In another tenant the same id is a new task with no title: rejected, nothing leaks.
    (result,) = (await theirs.json())["results"]
    assert result["status"] == "rejected"
    assert "current" not in result
