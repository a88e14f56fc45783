"""Checklist items: a synced entity added through the registry (#17).

Pushed and pulled like every synced row (per-field last writer wins, the
technician's scope), listed and edited over REST under their task, and
invisible to other technicians and other tenants. On both databases.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import Replica, action, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def setup(client: Any, sessions: Sessions) -> tuple[Account, Account, Account, uuid.UUID]:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    other = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task = uuid.uuid4()
    await push(
        client,
        admin,
        "dash",
        [
            upsert("task", task, "dash", title="Boiler"),
            action(task, "assign", "dash", fields={"user_id": str(tech.user_id)}),
        ],
    )
    return admin, tech, other, task


async def test_items_are_pushed_merged_by_field_and_pulled_in_scope(
    client: Any, sessions: Sessions
) -> None:
    admin, tech, other, task = await setup(client, sessions)
    item = uuid.uuid4()
    made = await push(
        client,
        tech,
        "phone",
        [upsert("checklist_item", item, "phone", task_id=str(task), label="Bleed", position=1)],
    )
    assert made["results"][0]["status"] == "applied"
    base = made["results"][0]["version"]
    # Two devices change different fields at once: both stand (per-field LWW).
    await push(
        client, tech, "phone", [upsert("checklist_item", item, "phone", base=base, done=True)]
    )
    await push(
        client,
        admin,
        "dash",
        [upsert("checklist_item", item, "dash", base=base, label="Bleed radiators")],
    )
    for reader in (admin, tech):
        replica = Replica()
        await replica.sync(client, reader)
        row = replica.rows[("checklist_item", str(item))]
        assert (row["label"], row["done"], row["position"]) == ("Bleed radiators", True, 1)
    elsewhere = Replica()
    await elsewhere.sync(client, other)
    assert ("checklist_item", str(item)) not in elsewhere.rows
    refused = await push(
        client,
        other,
        "other-phone",
        [upsert("checklist_item", uuid.uuid4(), "other-phone", task_id=str(task), label="x")],
    )
    assert refused["results"][0]["problem"]["code"] == "forbidden"
    bad = await push(
        client,
        tech,
        "phone",
        [
            upsert("checklist_item", uuid.uuid4(), "phone", task_id=str(task)),
            upsert("checklist_item", uuid.uuid4(), "phone", task_id=str(task), label="y", done=1),
        ],
    )
    assert [r["problem"]["errors"][0]["field"] for r in bad["results"]] == ["label", "done"]


async def test_an_unassigned_technician_loses_the_checklist(
    client: Any, sessions: Sessions
) -> None:
    admin, tech, _, task = await setup(client, sessions)
    item = uuid.uuid4()
    await push(
        client,
        tech,
        "phone",
        [upsert("checklist_item", item, "phone", task_id=str(task), label="a")],
    )
    phone = Replica()
    await phone.sync(client, tech)
    assert ("checklist_item", str(item)) in phone.rows
    unassign = action(task, "unassign", "dash", fields={"user_id": str(tech.user_id)})
    await push(client, admin, "dash", [unassign])
    await phone.sync(client, tech)
    assert ("checklist_item", str(item)) not in phone.rows


async def test_rest_lists_adds_ticks_and_removes_under_the_task(
    client: Any, sessions: Sessions
) -> None:
    admin, tech, other, task = await setup(client, sessions)
    url = f"/tasks/{task}/checklist"
    item_id = str(uuid.uuid4())
    added = await client.post(
        url, json={"id": item_id, "label": "Check valve", "position": 2}, headers=tech.headers
    )
    assert added.status == 201, await added.text()
    again = await client.post(
        url, json={"id": item_id, "label": "Check valve", "position": 2}, headers=tech.headers
    )
    assert again.status == 200
    await client.post(url, json={"label": "Bleed", "position": 1}, headers=admin.headers)
    listed = await (await client.get(url, headers=tech.headers)).json()
    assert [i["label"] for i in listed["items"]] == ["Bleed", "Check valve"]
    ticked = await client.patch(f"{url}/{item_id}", json={"done": True}, headers=tech.headers)
    assert ticked.status == 200
    assert (await ticked.json())["done"] is True
    assert (await client.patch(f"{url}/{item_id}", json={}, headers=tech.headers)).status == 422
    assert (
        await client.patch(f"{url}/{item_id}", json={"done": None}, headers=tech.headers)
    ).status == 422
    phone = Replica()
    await phone.sync(client, tech)
    assert phone.rows[("checklist_item", item_id)]["done"] is True  # the REST edit syncs
    assert (await client.delete(f"{url}/{item_id}", headers=admin.headers)).status == 204
    assert (
        await client.patch(f"{url}/{item_id}", json={"done": False}, headers=tech.headers)
    ).status == 404
    await phone.sync(client, tech)
    assert ("checklist_item", item_id) not in phone.rows
    # Another technician, another tenant: nothing.
    assert (await client.get(url, headers=other.headers)).status == 404
    assert (await client.post(url, json={"label": "z"}, headers=other.headers)).status == 404
    stranger = await signed_in(client, sessions, Role.ADMIN)
    assert (await client.get(url, headers=stranger.headers)).status == 404
    assert (
        await client.get(f"/tasks/{uuid.uuid4()}/checklist", headers=admin.headers)
    ).status == 404


async def test_an_item_is_reached_only_under_its_own_task_and_a_retry_writes_over(
    client: Any, sessions: Sessions
) -> None:
    admin, tech, _, task = await setup(client, sessions)
    second = uuid.uuid4()
    await push(client, admin, "dash", [upsert("task", second, "dash", title="Pump")])
    item_id = str(uuid.uuid4())
    url = f"/tasks/{task}/checklist"
    assert (
        await client.post(url, json={"id": item_id, "label": "a"}, headers=tech.headers)
    ).status == 201
    # The same id again with other values writes over it (no 409 for checklist items).
    again = await client.post(url, json={"id": item_id, "label": "b"}, headers=tech.headers)
    assert again.status == 200
    assert (await again.json())["label"] == "b"
    # Under another task of the tenant the item does not exist.
    elsewhere = f"/tasks/{second}/checklist/{item_id}"
    moved = await client.patch(elsewhere, json={"done": True}, headers=admin.headers)
    assert moved.status == 404
    assert (await moved.json())["code"] == "checklist_item_not_found"
    assert (await client.delete(elsewhere, headers=admin.headers)).status == 404
    # Another tenant's admin reaches neither the task nor the item.
    stranger = await signed_in(client, sessions, Role.ADMIN)
    mine = f"{url}/{item_id}"
    changed = await client.patch(mine, json={"done": True}, headers=stranger.headers)
    assert changed.status == 404
    assert (await changed.json())["code"] == "task_not_found"
    assert (await client.delete(mine, headers=stranger.headers)).status == 404
    listed = await (await client.get(url, headers=admin.headers)).json()
    assert [(i["label"], i["done"]) for i in listed["items"]] == [("b", False)]
