"""Tasks over REST: lifecycle actions with geo and the timeline, assignment rules, a
task that stays assigned while a technician holds it, the scheduled window; every
write goes through the sync service, so devices pull what the dashboard did and
REST sees what devices pushed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import signed_in
from tests.support.sync import action, pull_all, push
from tests.support.task_world import GEO, clock, team
from tests.support.tasks import create, problem

Sessions = async_sessionmaker[AsyncSession]


async def test_lifecycle_with_geo_and_the_timeline(client: Any, sessions: Sessions) -> None:
    iso = clock()
    staff, tech, _ = await team(client, sessions)
    task = await create(client, staff)
    url = f"/tasks/{task['id']}"
    early = await client.post(f"{url}/start", headers=tech.headers)
    await problem(early, 404, "task_not_found")  # not theirs yet: it does not exist for them
    assigned = await client.post(
        f"{url}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    assert (await assigned.json())["assignees"] == [str(tech.user_id)]
    started = await client.post(
        f"{url}/start",
        json={"client_time": iso(minutes=1), "geo": GEO},
        headers=tech.headers,
    )
    assert (await started.json())["status"] == "in_progress"
    wrong = await client.post(f"{url}/resume", headers=tech.headers)
    body = await problem(wrong, 409, "invalid_transition")
    assert (body["status"], body["task_status"]) == (409, "in_progress")
    assert body["allowed_actions"] == ["pause", "complete", "reject"]
    await client.post(f"{url}/pause", json={"client_time": iso(minutes=3)}, headers=tech.headers)
    await client.post(f"{url}/resume", json={"client_time": iso(minutes=5)}, headers=tech.headers)
    no_reason = await client.post(f"{url}/reject", json={}, headers=tech.headers)
    assert [e["field"] for e in (await problem(no_reason, 422, "validation_failed"))["errors"]] == [
        "reason"
    ]
    bad_geo = await client.post(
        f"{url}/complete", json={"geo": {"lat": 12, "lng": 181}}, headers=tech.headers
    )
    assert "geo.lng" in [
        e["field"] for e in (await problem(bad_geo, 422, "validation_failed"))["errors"]
    ]
    negative = await client.post(
        f"{url}/complete",
        json={"geo": {"lat": 12, "lng": 1, "accuracy_m": -1}},
        headers=tech.headers,
    )
    await problem(negative, 422, "validation_failed")
    done = await client.post(
        f"{url}/complete",
        json={"client_time": iso(minutes=9), "geo": GEO},
        headers=tech.headers,
    )
    assert (await done.json())["status"] == "completed"
    reopen = await client.post(f"{url}/reopen", headers=tech.headers)
    await problem(reopen, 403, "permission_denied")  # technicians hold no tasks:manage
    by_staff = await client.post(f"{url}/reopen", headers=staff.headers)
    await problem(by_staff, 403, "forbidden")  # admins only
    timeline = await (await client.get(f"{url}/timeline", headers=staff.headers)).json()
    kinds = [item["kind"] for item in timeline["items"]]
    assert kinds == ["created", "assigned", "started", "paused", "resumed", "completed"]
    start = timeline["items"][2]
    assert start["client_time"] == iso(minutes=1)
    assert start["geo"] == GEO
    assert start["actor"]["id"] == str(tech.user_id)
    assert start["device"] == f"web-{tech.user_id}"
    assert timeline["items"][0]["actor"]["id"] == str(staff.user_id)


async def test_assignment_rules(client: Any, sessions: Sessions) -> None:
    staff, tech, admin = await team(client, sessions)
    task = await create(client, staff)
    url = f"/tasks/{task['id']}"
    for user_id in (admin.user_id, uuid.uuid4()):
        response = await client.post(
            f"{url}/assign", json={"user_id": str(user_id)}, headers=staff.headers
        )
        await problem(response, 422, "invalid_assignee")
    missing = await client.post(f"{url}/assign", json={}, headers=staff.headers)
    await problem(missing, 422, "validation_failed")
    nobody = await client.post(
        f"{url}/unassign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    await problem(nobody, 409, "not_assigned")
    await client.post(f"{url}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers)
    mine = await (await client.get("/tasks", headers=tech.headers)).json()
    assert [t["id"] for t in mine["items"]] == [task["id"]]
    by_me = await (await client.get("/tasks?assignee=me", headers=tech.headers)).json()
    assert len(by_me["items"]) == 1
    off = await client.post(
        f"{url}/unassign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    assert (await off.json())["status"] == "open"
    assert (await (await client.get("/tasks", headers=tech.headers)).json())["items"] == []
    denied = await client.post(
        f"{url}/assign", json={"user_id": str(tech.user_id)}, headers=tech.headers
    )
    await problem(denied, 403, "permission_denied")


async def test_the_sync_side_sees_rest_writes_and_rest_sees_device_writes(
    client: Any, sessions: Sessions
) -> None:
    staff, tech, _ = await team(client, sessions)
    task = await create(client, staff)
    await client.post(
        f"/tasks/{task['id']}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    changes, _ = await pull_all(client, tech)
    assert task["id"] in [c["id"] for c in changes if c["entity"] == "task"]
    answer = await push(
        client, tech, "phone", [action(uuid.UUID(task["id"]), "start", "phone", base=4, geo=GEO)]
    )
    assert answer["results"][0]["status"] == "applied"
    read = await (await client.get(f"/tasks/{task['id']}", headers=staff.headers)).json()
    assert read["status"] == "in_progress"


async def test_a_task_stays_assigned_while_a_technician_holds_it(
    client: Any, sessions: Sessions
) -> None:
    staff, tech, _ = await team(client, sessions)
    second = await signed_in(client, sessions, Role.TECHNICIAN, staff.tenant)
    task = await create(client, staff)
    url = f"/tasks/{task['id']}"
    for who in (tech, second):
        await client.post(
            f"{url}/assign", json={"user_id": str(who.user_id)}, headers=staff.headers
        )
    both = await (await client.get(url, headers=staff.headers)).json()
    assert both["assignees"] == [str(tech.user_id), str(second.user_id)]
    one_left = await client.post(
        f"{url}/unassign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    body = await one_left.json()
    assert (body["status"], body["assignees"]) == ("assigned", [str(second.user_id)])
    none_left = await client.post(
        f"{url}/unassign", json={"user_id": str(second.user_id)}, headers=staff.headers
    )
    assert (await none_left.json())["status"] == "open"


async def test_the_scheduled_window_over_rest(client: Any, sessions: Sessions) -> None:
    staff, _, _ = await team(client, sessions)
    window = {
        "scheduled_start": "2026-12-08T10:00:00+03:00",
        "scheduled_end": "2026-12-08T09:00:00Z",
    }
    task = await create(client, staff, **window)
    assert (task["scheduled_start"], task["scheduled_end"]) == (
        "2026-12-08T07:00:00Z",
        "2026-12-08T09:00:00Z",
    )
    url = f"/tasks/{task['id']}"
    half = await client.patch(
        url, json={"scheduled_end": "2026-12-08T11:00:00Z"}, headers=staff.headers
    )
    await problem(half, 422, "validation_failed")
    backwards = {"scheduled_start": "2026-12-08T11:00:00Z", "scheduled_end": "2026-12-08T10:00:00Z"}
    await problem(
        await client.patch(url, json=backwards, headers=staff.headers), 422, "validation_failed"
    )
    moved = await client.patch(
        url,
        json={"scheduled_start": "2026-12-09T07:00:00Z", "scheduled_end": "2026-12-09T08:00:00Z"},
        headers=staff.headers,
    )
    assert (await moved.json())["scheduled_end"] == "2026-12-09T08:00:00Z"
    cleared = await client.patch(
        url, json={"scheduled_start": None, "scheduled_end": None}, headers=staff.headers
    )
    assert (await cleared.json())["scheduled_start"] is None
    other = await signed_in(client, sessions, Role.ADMIN)
    assert (await client.get(url, headers=other.headers)).status == 404
    listed = await (await client.get("/tasks", headers=other.headers)).json()
    assert listed["items"] == []
