"""Job numbers: every task gets `JOB-000123`, one per tenant, once, from the server.

Tasks created over REST and by a device's push both get the tenant's next
number (given inside the unit of change, under the tenant's locked counter);
concurrent creations never share one; REST, pull rows and later edits show
the same number; a device cannot set or change it; another tenant counts
from one. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def test_rest_and_push_tasks_get_the_tenants_next_number(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    first = await client.post("/tasks", json={"title": "Pump"}, headers=staff.headers)
    assert first.status == 201
    assert (await first.json())["job_number"] == "JOB-000001"

    pushed = uuid.uuid4()
    answer = await push(client, staff, "tablet", [upsert("task", pushed, "tablet", title="Fan")])
    assert answer["results"][0]["status"] == "applied", answer
    read = await client.get(f"/tasks/{pushed}", headers=staff.headers)
    assert (await read.json())["job_number"] == "JOB-000002"

    # An edit keeps the number, whoever makes it.
    edited = await push(
        client, staff, "tablet", [upsert("task", pushed, "tablet", 0, title="Fan, again")]
    )
    assert edited["results"][0]["status"] == "applied", edited
    patched = await client.patch(
        f"/tasks/{pushed}", json={"priority": "high"}, headers=staff.headers
    )
    assert (await patched.json())["job_number"] == "JOB-000002"

    changes, _ = await pull_all(client, staff)
    numbers = {c["id"]: c["data"]["job_number"] for c in changes if c["entity"] == "task"}
    assert numbers[str(pushed)] == "JOB-000002"
    assert sorted(numbers.values()) == ["JOB-000001", "JOB-000002"]

    # Another tenant counts from one and sees none of these.
    other = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    theirs = await client.post("/tasks", json={"title": "Boiler"}, headers=other.headers)
    assert (await theirs.json())["job_number"] == "JOB-000001"
    listed = await (await client.get("/tasks", headers=other.headers)).json()
    assert [task["title"] for task in listed["items"]] == ["Boiler"]


async def test_a_device_can_neither_set_nor_change_the_number(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    task_id = uuid.uuid4()
    answer = await push(
        client,
        staff,
        "tablet",
        [upsert("task", task_id, "tablet", title="Pump", job_number="JOB-999999")],
    )
    result = answer["results"][0]
    assert result["status"] == "rejected", answer
    assert result["problem"]["code"] == "validation_failed"
    assert [e["field"] for e in result["problem"]["errors"]] == ["job_number"]

    made = await push(client, staff, "tablet", [upsert("task", task_id, "tablet", title="Pump")])
    assert made["results"][0]["status"] == "applied"
    again = await push(
        client, staff, "tablet", [upsert("task", task_id, "tablet", 1, job_number="JOB-000009")]
    )
    assert again["results"][0]["status"] == "rejected"
    response = await client.patch(
        f"/tasks/{task_id}", json={"job_number": "JOB-000009"}, headers=staff.headers
    )
    assert response.status == 422
    task = await (await client.get(f"/tasks/{task_id}", headers=staff.headers)).json()
    assert task["job_number"] == "JOB-000001"


async def test_concurrent_creations_never_share_a_number(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)

    async def by_rest(n: int) -> str:
        response = await client.post("/tasks", json={"title": f"R{n}"}, headers=staff.headers)
        assert response.status == 201, await response.text()
        number: str = (await response.json())["job_number"]
        return number

    async def by_push(n: int) -> str:
        task_id = uuid.uuid4()
        answer = await push(client, admin, f"dev-{n}", [upsert("task", task_id, "d", title="P")])
        assert answer["results"][0]["status"] == "applied", answer
        task = await (await client.get(f"/tasks/{task_id}", headers=admin.headers)).json()
        number: str = task["job_number"]
        return number

    numbers = await asyncio.gather(*(by_rest(n) for n in range(6)), *(by_push(n) for n in range(6)))
    assert sorted(numbers) == [f"JOB-{n:06d}" for n in range(1, 13)]
