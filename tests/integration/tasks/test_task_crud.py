"""Tasks over REST: create (idempotent), bad input answers a problem with its code,
patch with If-Match / updated_at, delete as a tombstone devices receive, list with
filters, sorts and cursors; another tenant sees and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Conflict
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import signed_in
from tests.support.sync import pull_all
from tests.support.task_world import team
from tests.support.tasks import create, problem

Sessions = async_sessionmaker[AsyncSession]


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
