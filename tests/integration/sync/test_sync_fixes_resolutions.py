"""Regressions from a client written from docs/protocol.md alone, run through faults
(#16), about conflicts and actions: resolutions after a delete or a later edit,
two conflicts on one row, reopen, equal concurrent values, an invalid action, and
the smaller items (a bad token in the URL, a replayed ydoc change, a new device's
first contact). Plain HTTP, both databases.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pycrdt import Doc, Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.regressions import (
    admin_and_tech,
    assigned_task_with_purchase,
    technician_snapshot,
)
from tests.support.sync import Replica, action, hlc, push, upsert
from tests.support.ws import closed_with
from tests.support.yjs import open_editor, ydoc_change

Sessions = async_sessionmaker[AsyncSession]


async def _priority_conflict(
    client: Any, admin: Account, staff: Account
) -> tuple[uuid.UUID, str, int]:
    """Server 'urgent' against device 'low'; answers (task, conflict id, version)."""
    task = uuid.uuid4()
    created = await push(client, staff, "a", [upsert("task", task, "a", title="t")])
    base = created["results"][0]["version"]
    await push(client, staff, "b", [upsert("task", task, "b", base=base, priority="urgent")])
    answer = await push(client, staff, "a", [upsert("task", task, "a", base=base, priority="low")])
    (result,) = answer["results"]
    assert result["status"] == "conflict", result
    return task, result["conflict_id"], result["version"]


async def _resolve(client: Any, admin: Account, conflict_id: str, choice: str) -> dict[str, Any]:
    response = await client.post(
        f"/conflicts/{conflict_id}/resolve", json={"resolution": choice}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


@pytest.mark.parametrize("choice", ["keep_server", "take_client"])
async def test_resolving_a_conflict_on_a_row_deleted_since_does_not_resurrect_it(
    client: Any, sessions: Sessions, choice: str
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task, conflict_id, version = await _priority_conflict(client, admin, staff)
    phone = Replica()
    await phone.sync(client, staff)
    deleted = await push(
        client,
        admin,
        "dash",
        [
            {
                "entity": "task",
                "id": str(task),
                "op": "delete",
                "hlc": hlc("dash"),
                "base_version": version,
            }
        ],
    )
    assert deleted["results"][0]["status"] == "applied"
    assert (await _resolve(client, admin, conflict_id, choice))["version"] is None
    await phone.sync(client, staff)
    assert ("task", str(task)) not in phone.rows
    assert phone.rows == await technician_snapshot(client, staff)
    assert (await client.get(f"/tasks/{task}", headers=admin.headers)).status == 404


async def test_keep_server_keeps_an_edit_made_after_the_conflict(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task, conflict_id, _ = await _priority_conflict(client, admin, staff)
    edited = await client.patch(
        f"/tasks/{task}", json={"priority": "normal"}, headers=admin.headers
    )
    assert edited.status == 200, await edited.text()
    assert (await _resolve(client, admin, conflict_id, "keep_server"))["version"] is None
    task_now = await (await client.get(f"/tasks/{task}", headers=admin.headers)).json()
    assert task_now["priority"] == "normal"


async def test_keep_server_restores_the_server_value_where_the_device_won(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task, conflict_id, _ = await _priority_conflict(client, admin, staff)
    assert (await _resolve(client, admin, conflict_id, "keep_server"))["version"] is not None
    task_now = await (await client.get(f"/tasks/{task}", headers=admin.headers)).json()
    assert task_now["priority"] == "urgent"


async def test_two_conflicts_on_one_row_resolved_together_keep_both_choices(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task = uuid.uuid4()
    created = await push(client, staff, "a", [upsert("task", task, "a", title="t")])
    base = created["results"][0]["version"]
    await push(
        client,
        staff,
        "b",
        [upsert("task", task, "b", base=base, priority="urgent", due_at="2026-12-01T08:00:00Z")],
    )
    ids = []
    for field, value in (("priority", "low"), ("due_at", "2026-12-02T08:00:00Z")):
        answer = await push(
            client, staff, "a", [upsert("task", task, "a", base=base, **{field: value})]
        )
        ids.append(answer["results"][0]["conflict_id"])
    response = await client.post(
        "/conflicts/resolve",
        json={"ids": ids, "resolution": "keep_server"},
        headers=admin.headers,
    )
    assert response.status == 200, await response.text()
    task_now = await (await client.get(f"/tasks/{task}", headers=admin.headers)).json()
    assert (task_now["priority"], task_now["due_at"]) == ("urgent", "2026-12-01T08:00:00Z")


async def test_reopen_keeps_the_technician_and_they_can_work_or_leave(
    client: Any, sessions: Sessions
) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, _ = await assigned_task_with_purchase(client, admin, tech)
    for name in ("start", "complete"):
        answer = await push(client, tech, "phone", [action(task, name, "phone")])
        assert answer["results"][0]["status"] == "applied", answer
    reopened = await push(client, admin, "dash", [action(task, "reopen", "dash")])
    assert reopened["results"][0]["status"] == "applied"
    row = await (await client.get(f"/tasks/{task}", headers=admin.headers)).json()
    assert row["status"] == "assigned"
    started = await push(client, tech, "phone", [action(task, "start", "phone")])
    assert started["results"][0]["status"] == "applied", started
    await push(client, tech, "phone", [action(task, "complete", "phone")])
    await push(client, admin, "dash", [action(task, "reopen", "dash")])
    left = await client.post(
        f"/tasks/{task}/unassign", json={"user_id": str(tech.user_id)}, headers=admin.headers
    )
    assert left.status == 200, await left.text()
    assert (await left.json())["status"] == "open"


async def test_reopen_without_technicians_is_open(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    task = uuid.uuid4()
    await push(client, admin, "dash", [upsert("task", task, "dash", title="t")])
    rejected = await push(client, admin, "dash", [action(task, "reject", "dash", reason="dup")])
    assert rejected["results"][0]["status"] == "applied"
    await push(client, admin, "dash", [action(task, "reopen", "dash")])
    row = await (await client.get(f"/tasks/{task}", headers=admin.headers)).json()
    assert row["status"] == "open"


async def test_a_bad_token_in_the_url_closes_4401_at_once(client: Any, sessions: Sessions) -> None:
    ws = await client.ws_connect("/sync/ws?token=garbage")
    assert await closed_with(ws) == 4401  # before any hello: no 10 s wait for 4408
    offered = await client.ws_connect("/sync/ws", protocols=("syncd.v1", "bearer.garbage"))
    assert await closed_with(offered) == 4401


async def test_equal_concurrent_values_open_no_conflict(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task = uuid.uuid4()
    created = await push(client, staff, "a", [upsert("task", task, "a", title="t")])
    base = created["results"][0]["version"]
    await push(client, staff, "b", [upsert("task", task, "b", base=base, priority="high")])
    same = await push(client, staff, "a", [upsert("task", task, "a", base=base, priority="high")])
    assert same["results"][0]["status"] == "applied"


async def test_an_invalid_action_from_a_device_that_saw_the_status_is_rejected(
    client: Any, sessions: Sessions
) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, _ = await assigned_task_with_purchase(client, admin, tech)
    phone = Replica()
    await phone.sync(client, tech)
    seen = phone.rows[("task", str(task))]["version"]
    skipped = await push(client, tech, "phone", [action(task, "complete", "phone", base=seen)])
    (result,) = skipped["results"]
    assert (result["status"], result["problem"]["code"]) == ("rejected", "invalid_transition")
    assert result["problem"]["status"] == 409
    # A device that had not seen the status change another made: a stale action.
    await push(client, admin, "dash", [action(task, "reject", "dash", reason="cancelled")])
    stale = await push(client, tech, "phone", [action(task, "start", "phone", base=seen)])
    assert stale["results"][0]["status"] == "conflict"


async def test_a_replayed_ydoc_change_reaches_open_editors(client: Any, sessions: Sessions) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task = uuid.uuid4()
    await push(client, admin, "dash", [upsert("task", task, "dash", title="Pump")])
    offline = Doc(client_id=77)
    offline.get("notes", type=Text).insert(0, "seal cracked")
    refused = await push(client, tech, "phone", [ydoc_change(task, offline.get_update())])
    assert refused["results"][0]["problem"]["code"] == "forbidden"  # not assigned yet
    await push(
        client,
        admin,
        "dash",
        [action(task, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    editor = await open_editor(client, admin, f"task:{task}:notes")
    listed = await (await client.get("/sync/rejections", headers=admin.headers)).json()
    (rejection,) = listed["items"]
    replayed = await client.post(
        f"/sync/rejections/{rejection['id']}/replay", headers=admin.headers
    )
    assert replayed.status == 200, await replayed.text()
    assert (await replayed.json())["status"] == "replayed"
    await editor.until(lambda: str(editor.text) == "seal cracked")
    await editor.ws.close()


async def test_a_new_devices_first_contact_is_not_after_its_last(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    for _ in range(3):
        await push(
            client, admin, "fresh-phone", [upsert("task", uuid.uuid4(), "fresh-phone", title="t")]
        )
        devices = await (await client.get("/sync/devices", headers=admin.headers)).json()
        (device,) = [d for d in devices["items"] if d["client_id"] == "fresh-phone"]
        assert device["first_seen_at"] <= device["last_seen_at"]
