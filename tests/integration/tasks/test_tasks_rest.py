"""Tasks over REST: create (idempotent), read, list with filters and cursors,
patch with If-Match / updated_at, delete, assignment, lifecycle actions, the
timeline; bad input answers a problem with its code; another tenant sees nothing.
Every write goes through the sync service, so devices pull what the dashboard did.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Conflict
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import action, pull_all, push
from tests.support.tasks import create, problem

Sessions = async_sessionmaker[AsyncSession]
GEO = {"lat": 24.7136, "lng": 46.6753, "accuracy_m": 12.5}


def clock() -> Callable[[int], str]:
    """A device's clock: `at(minutes)` reads it `minutes` after now."""
    start = datetime.now(UTC).replace(microsecond=0)

    def at(minutes: int) -> str:
        return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    return at


async def team(client: Any, sessions: Sessions) -> tuple[Account, Account, Account]:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    return staff, tech, admin


async def test_create_is_idempotent_by_id_and_refuses_another_body(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = str(uuid.uuid4())
    body = {
        "id": task_id,
        "title": "Fix pump",
        "priority": "high",
        "due_at": "2026-12-01T09:00:00Z",
    }
    first = await client.post("/tasks", json=body, headers=staff.headers)
    assert first.status == 201
    created = await first.json()
    assert created["id"] == task_id
    assert created["status"] == "open"
    assert created["priority"] == "high"
    assert created["allowed_actions"] == ["assign", "reject"]
    assert first.headers["ETag"] == f'"{created["version"]}"'
    assert first.headers["Location"] == f"/tasks/{task_id}"
    again = await client.post("/tasks", json=body, headers=staff.headers)
    assert again.status == 200
    assert await again.json() == created
    other = await client.post("/tasks", json={**body, "title": "Other"}, headers=staff.headers)
    clash = await problem(other, 409, "task_exists")
    assert clash["current"]["title"] == "Fix pump"
    # A device pulls what the dashboard created.
    changes, _ = await pull_all(client, staff)
    assert [c["data"]["title"] for c in changes if c["entity"] == "task"] == ["Fix pump"]


async def test_bad_task_bodies_are_problems(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    for body, field in (
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "priority": "soon"}, "priority"),
        ({"title": "x", "due_at": "2026-12-01T09:00:00"}, "due_at"),  # no time zone
        ({"title": "x", "location": {"lat": 91}}, "location.lat"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"title": "x", "id": "not-a-uuid"}, "id"),
    ):
        response = await client.post("/tasks", json=body, headers=staff.headers)
        found = await problem(response, 422, "validation_failed")
        assert field in [e["field"] for e in found["errors"]], (body, found)
    raw = await client.post(
        "/tasks", data=b"{", headers={**staff.headers, "Content-Type": "application/json"}
    )
    await problem(raw, 422, "malformed_json")
    await problem(await client.get("/tasks/nope", headers=staff.headers), 404, "task_not_found")
    await problem(
        await client.get(f"/tasks/{uuid.uuid4()}", headers=staff.headers), 404, "task_not_found"
    )
    for query in (
        "status=done",
        "limit=0",
        "cursor=zzz",
        "sort=colour",
        "due_from=yesterday",
        "assignee=x",
    ):
        response = await client.get(f"/tasks?{query}", headers=staff.headers)
        assert response.status == 422, query


async def test_patch_with_if_match_and_updated_at(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task = await create(client, staff)
    url = f"/tasks/{task['id']}"
    tag = f'"{task["version"]}"'
    ok = await client.patch(
        url, json={"title": "Fix big pump"}, headers={**staff.headers, "If-Match": tag}
    )
    assert ok.status == 200, await ok.text()
    changed = await ok.json()
    assert changed["title"] == "Fix big pump"
    assert changed["version"] > task["version"]
    stale = await client.patch(
        url, json={"title": "Lost update"}, headers={**staff.headers, "If-Match": tag}
    )
    body = await problem(stale, 412, "stale_task")
    assert body["current"]["title"] == "Fix big pump"
    assert stale.headers["ETag"] == f'"{changed["version"]}"'
    old = await client.patch(
        url, json={"title": "Lost too", "updated_at": task["updated_at"]}, headers=staff.headers
    )
    assert (await problem(old, 409, "stale_task"))["current"]["title"] == "Fix big pump"
    fresh = await client.patch(
        url, json={"priority": "urgent", "updated_at": changed["updated_at"]}, headers=staff.headers
    )
    assert (await fresh.json())["priority"] == "urgent"
    cleared = await client.patch(url, json={"due_at": None}, headers=staff.headers)
    assert (await cleared.json())["due_at"] is None
    await problem(await client.patch(url, json={}, headers=staff.headers), 422, "nothing_to_change")
    nulled = await client.patch(url, json={"title": None}, headers=staff.headers)
    await problem(nulled, 422, "validation_failed")


async def test_delete_is_a_tombstone_devices_receive(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task = await create(client, staff)
    _, cursor = await pull_all(client, staff)
    gone = await client.delete(f"/tasks/{task['id']}", headers={**staff.headers, "If-Match": '"1"'})
    assert gone.status == 204
    changes, _ = await pull_all(client, staff, since=cursor)
    assert [(c["entity"], c["op"]) for c in changes] == [("task", "delete")]
    await problem(
        await client.get(f"/tasks/{task['id']}", headers=staff.headers), 404, "task_not_found"
    )
    again = await client.delete(f"/tasks/{task['id']}", headers=staff.headers)
    await problem(again, 404, "task_not_found")
    listed = await (await client.get("/tasks", headers=staff.headers)).json()
    assert listed["items"] == []


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


async def test_list_filters_sorts_and_pages(client: Any, sessions: Sessions) -> None:
    staff, tech, _ = await team(client, sessions)
    made = []
    for n in range(7):
        due = f"2026-12-0{n + 1}T09:00:00Z" if n % 3 else None
        made.append(
            await create(
                client,
                staff,
                title=f"Pump {n}",
                description="north site" if n < 3 else "south",
                **({"due_at": due} if due else {}),
            )
        )
    await client.post(
        f"/tasks/{made[0]['id']}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )

    async def every(query: str, limit: int = 3) -> list[str]:
        titles: list[str] = []
        cursor = None
        while True:
            params = f"{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            response = await client.get(f"/tasks?{params}", headers=staff.headers)
            assert response.status == 200, await response.text()
            body = await response.json()
            titles += [t["title"] for t in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return titles

    assert await every("sort=created_at") == [f"Pump {n}" for n in range(7)]
    assert await every("sort=-created_at") == [f"Pump {n}" for n in reversed(range(7))]
    # Without a due date last (among themselves in id order), in either direction.
    by_due = await every("sort=due_at", 2)
    assert by_due[:4] == ["Pump 1", "Pump 2", "Pump 4", "Pump 5"]
    assert sorted(by_due[4:]) == ["Pump 0", "Pump 3", "Pump 6"]
    by_due_desc = await every("sort=-due_at", 2)
    assert by_due_desc[:4] == ["Pump 5", "Pump 4", "Pump 2", "Pump 1"]
    assert by_due_desc[4:] == list(reversed(by_due[4:]))
    assert await every("sort=-title", 4) == [f"Pump {n}" for n in reversed(range(7))]
    assert await every("q=NORTH") == ["Pump 0", "Pump 1", "Pump 2"]
    assert await every("q=%25") == []  # a wildcard is searched for as text
    assert await every("status=assigned") == ["Pump 0"]
    assert await every("status=open,assigned") == [f"Pump {n}" for n in range(7)]
    assert await every(f"assignee={tech.user_id}") == ["Pump 0"]
    window = "due_from=2026-12-02T00:00:00Z&due_to=2026-12-05T00:00:00Z"
    assert await every(window) == ["Pump 1", "Pump 2"]  # from inclusive, to exclusive
    # Pump 0 changed (assigned) after Pump 6 was created.
    assert await every(f"updated_since={made[6]['updated_at']}") == ["Pump 0", "Pump 6"]


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


async def test_another_tenant_sees_and_changes_nothing(client: Any, sessions: Sessions) -> None:
    staff, tech, _ = await team(client, sessions)
    task = await create(client, staff)
    url = f"/tasks/{task['id']}"
    theirs = await signed_in(client, sessions, Role.ADMIN)
    assert (await (await client.get("/tasks", headers=theirs.headers)).json())["items"] == []
    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"title": "mine now"}),
        ("DELETE", url, None),
        ("POST", f"{url}/assign", {"user_id": str(tech.user_id)}),
        ("POST", f"{url}/reject", {"reason": "no"}),
        ("POST", f"{url}/reopen", None),
        ("GET", f"{url}/timeline", None),
    ):
        response = await client.request(method, path, json=body, headers=theirs.headers)
        await problem(response, 404, "task_not_found")
    # The same id in another tenant is another task: mine is untouched.
    same_id = await client.post(
        "/tasks", json={"id": task["id"], "title": "theirs"}, headers=theirs.headers
    )
    assert same_id.status == 201
    mine = await (await client.get(url, headers=staff.headers)).json()
    assert mine["title"] == "Fix pump"
    crossed = await client.get("/tasks", headers={**theirs.headers, "X-Tenant": staff.tenant.slug})
    assert crossed.status == 403
    async with TenantUnitOfWork(sessions, staff.tenant.id) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Conflict)) == 0


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
