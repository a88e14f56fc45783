"""A batch longer than one chunk of the push pipeline (syncd/sync/push.py): on
PostgreSQL its early chunks are written while later ones are merged, so rows
staged again by a later chunk, children of rows an earlier chunk created, an
action between chunks, and a refused change must all come out as if the batch
had been written at once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.auth.principal import Principal
from syncd.sync.cursor import Cursor
from syncd.sync.push import CHUNK
from syncd.sync.service import SyncService
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import action, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]


def long_batch(
    tasks: list[uuid.UUID], items: list[uuid.UUID], user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Creations over two chunks, an action, edits of the first chunk's tasks, their
    checklist items, and a change that names a task nobody created."""
    changes = [upsert("task", task, "dash", title=f"task {n}") for n, task in enumerate(tasks)]
    changes.append(action(tasks[0], "assign", "dash", fields={"user_id": str(user_id)}))
    changes += [
        upsert("task", task, "dash", title=f"task {n} (edited)")
        for n, task in enumerate(tasks[:CHUNK])
    ]
    changes += [
        upsert("checklist_item", item, "dash", task_id=str(task), label="Bleed", position=1)
        for item, task in zip(items, tasks, strict=False)
    ]
    changes.append(
        upsert(
            "checklist_item", uuid.uuid4(), "dash", task_id=str(uuid.uuid4()), label="x", position=1
        )
    )
    return changes


async def test_a_batch_of_several_chunks_is_written_as_one(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    tasks = [uuid.uuid4() for _ in range(CHUNK + CHUNK // 2)]
    items = [uuid.uuid4() for _ in range(CHUNK // 2)]
    changes = long_batch(tasks, items, tech.user_id)
    assert len(changes) > 3 * CHUNK

    answer = await push(client, staff, "dash", changes, batch_id="long")
    statuses = [r["status"] for r in answer["results"]]
    assert statuses[:-1] == ["applied"] * (len(changes) - 1)
    assert answer["results"][-1]["problem"]["code"] == "unknown_reference"
    versions = [r["version"] for r in answer["results"][:-1]]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)

    pulled, cursor = await pull_all(client, staff, since=Cursor.at(0).encode())  # the log
    # Every version the batch took is in the log once, in order, without a gap.
    assert [c["version"] for c in pulled] == list(range(1, len(pulled) + 1))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for change in pulled:
        rows[(change["entity"], change["id"])] = change["data"]
    titles = {row_id: row["title"] for (entity, row_id), row in rows.items() if entity == "task"}
    assert titles == {
        str(task): f"task {n}" + (" (edited)" if n < CHUNK else "") for n, task in enumerate(tasks)
    }
    assert {row_id for (entity, row_id) in rows if entity == "checklist_item"} == {
        str(item) for item in items
    }
    created = [row for (entity, _), row in rows.items() if entity == "task_event"]
    assert sum(row["kind"] == "created" for row in created) == len(tasks)
    assert any(row["kind"] == "assigned" for row in created)
    # The task rows hold the edits' versions (written again by the commit).
    by_id = {c["id"]: c["version"] for c in pulled if c["entity"] == "task"}
    edits = answer["results"][len(tasks) + 1 : len(tasks) + 1 + CHUNK]
    for task, result in zip(tasks[:CHUNK], edits, strict=True):
        assert by_id[str(task)] == result["version"]

    # The resend is answered as first, and the technician sees the assigned task only.
    assert await push(client, staff, "dash", changes, batch_id="long") == answer
    mine, _ = await pull_all(client, tech)
    assert {c["data"].get("task_id", c["id"]) for c in mine} == {str(tasks[0])}

    # Another tenant's token sees nothing of it.
    other = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    theirs, _ = await pull_all(client, other)
    assert theirs == []
    again, _ = await pull_all(client, staff, since=cursor)
    assert again == []


async def test_a_failed_write_behind_fails_the_unit_and_writes_nothing(
    client: Any, sessions: Sessions
) -> None:
    """Work started in the background fails the unit where it is next waited for (at
    the latest its commit), and the whole transaction rolls back."""
    staff = await signed_in(client, sessions, Role.STAFF)
    who = Principal(staff.user_id, staff.tenant.id, staff.role, uuid.uuid4(), staff.email)
    sync = SyncService(sessions, max_batch=10)

    async def lost() -> None:
        raise ConnectionError("the connection was lost")

    async def write_and_lose() -> None:
        async with sync.unit(who, "dash") as unit:
            task = uuid.uuid4()
            unit.batch.stage("task", task, {"id": task, "title": "never", "version": 1})
            unit.behind(lost)
            await unit.commit()

    with pytest.raises(ConnectionError):
        await write_and_lose()
    pulled, _ = await pull_all(client, staff)
    assert pulled == []
