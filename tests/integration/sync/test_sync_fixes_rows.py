"""Regressions from a client written from docs/protocol.md alone, run through faults
(#16), about rows: a mixed edit-and-create batch, unassigned and deleted rows
leaving the phone (on pull and on the live socket), a missing task, a row that
never moves to another task, media ids of the tenant. Plain HTTP, both databases.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import signed_in
from tests.support.media import declared, photo
from tests.support.regressions import (
    WHEN,
    admin_and_tech,
    assigned_task_with_purchase,
    purchase_fields,
    technician_snapshot,
)
from tests.support.sync import Replica, action, hlc, push, upsert
from tests.support.ws import connect, until

Sessions = async_sessionmaker[AsyncSession]


async def test_a_batch_editing_one_row_and_creating_another_of_its_entity_applies(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    task, other_task = uuid.uuid4(), uuid.uuid4()
    p1, p2, r1, r2 = (uuid.uuid4() for _ in range(4))
    first = await push(
        client,
        admin,
        "dev-a",
        [
            upsert("task", task, "dev-a", title="Pump"),
            upsert("purchase", p1, "dev-a", **purchase_fields(task, 100)),
            upsert(
                "receipt",
                r1,
                "dev-a",
                purchase_id=str(p1),
                total_minor=100,
                currency="SAR",
                issued_at=WHEN,
            ),
        ],
    )
    assert [r["status"] for r in first["results"]] == ["applied"] * 3
    base = max(r["version"] for r in first["results"])
    mixed = await push(
        client,
        admin,
        "dev-a",
        [
            upsert("task", task, "dev-a", base=base, title="Pump seal"),
            upsert("task", other_task, "dev-a", title="Valve"),
            upsert("purchase", p1, "dev-a", base=base, amount_minor=150),
            upsert("purchase", p2, "dev-a", **purchase_fields(task, 200)),
            upsert("receipt", r1, "dev-a", base=base, total_minor=150),
            upsert(
                "receipt",
                r2,
                "dev-a",
                purchase_id=str(p2),
                total_minor=200,
                currency="SAR",
                issued_at=WHEN,
            ),
        ],
    )
    assert [r["status"] for r in mixed["results"]] == ["applied"] * 6, mixed


@pytest.mark.parametrize("deleted", ["task", "purchase"])
@pytest.mark.parametrize("order", ["unassign_first", "delete_first"])
async def test_unassigned_and_deleted_rows_leave_the_phone_on_pull(
    client: Any, sessions: Sessions, deleted: str, order: str
) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, purchase = await assigned_task_with_purchase(client, admin, tech)
    phone = Replica()
    await phone.sync(client, tech)
    assert ("task", str(task)) in phone.rows
    assert ("purchase", str(purchase)) in phone.rows
    unassign = action(task, "unassign", "dash", fields={"user_id": str(tech.user_id)})
    delete = {
        "entity": deleted,
        "id": str(task if deleted == "task" else purchase),
        "op": "delete",
        "hlc": hlc("dash"),
        "base_version": 0,
    }
    steps = [[unassign], [delete]] if order == "unassign_first" else [[delete], [unassign]]
    statuses = []
    for changes in steps:
        statuses.append((await push(client, admin, "dash", changes))["results"][0]["status"])
    await phone.sync(client, tech)
    assert phone.rows == await technician_snapshot(client, tech)
    if deleted == "task" and order == "delete_first":
        # A deleted task cannot be unassigned: its other rows stay in scope.
        assert statuses == ["applied", "rejected"]
        assert ("task", str(task)) not in phone.rows
        assert ("purchase", str(purchase)) in phone.rows
    else:
        assert statuses == ["applied", "applied"]
        assert phone.rows == {}


async def test_unassigned_then_deleted_rows_leave_the_phone_on_the_live_socket(
    client: Any, sessions: Sessions
) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, purchase = await assigned_task_with_purchase(client, admin, tech)
    phone = Replica()
    await phone.sync(client, tech)
    await push(
        client,
        admin,
        "dash",
        [action(task, "unassign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    await push(
        client,
        admin,
        "dash",
        [
            {
                "entity": "purchase",
                "id": str(purchase),
                "op": "delete",
                "hlc": hlc("dash"),
                "base_version": 0,
            }
        ],
    )
    ws = await connect(client, tech, phone.cursor)
    for frame in await until(ws, "caught_up"):
        if frame["type"] == "changes":
            phone.apply(frame["changes"])
    await ws.close()
    assert phone.rows == await technician_snapshot(client, tech) == {}


async def test_a_technician_naming_a_missing_task_gets_unknown_reference(
    client: Any, sessions: Sessions
) -> None:
    _, tech = await admin_and_tech(client, sessions)
    answer = await push(
        client,
        tech,
        "phone",
        [upsert("purchase", uuid.uuid4(), "phone", **purchase_fields(uuid.uuid4(), 5))],
    )
    assert answer["results"][0]["problem"]["code"] == "unknown_reference"


async def test_a_row_never_moves_to_another_task(client: Any, sessions: Sessions) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, purchase = await assigned_task_with_purchase(client, admin, tech)
    other = uuid.uuid4()
    await push(client, admin, "dash", [upsert("task", other, "dash", title="Other")])
    moved = await push(
        client, admin, "dash", [upsert("purchase", purchase, "dash", task_id=str(other))]
    )
    (result,) = moved["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["errors"][0] == {
        "field": "task_id",
        "code": "immutable",
        "message": "delete the row and create it anew instead",
    }
    same = await push(
        client, admin, "dash", [upsert("purchase", purchase, "dash", task_id=str(task))]
    )
    assert same["results"][0]["status"] in ("applied", "superseded")


async def test_media_ids_must_name_media_of_the_tenant(client: Any, sessions: Sessions) -> None:
    admin, tech = await admin_and_tech(client, sessions)
    task, _ = await assigned_task_with_purchase(client, admin, tech)
    media = await declared(client, admin, photo(), owner_type="task", owner_id=str(task))
    stranger = await signed_in(client, sessions, Role.ADMIN)
    theirs = await declared(client, stranger, photo(), owner_type="tenant")
    answer = await push(
        client,
        tech,
        "phone",
        [
            upsert(
                "purchase",
                uuid.uuid4(),
                "phone",
                **purchase_fields(task, 5),
                media_ids=[media["media_id"]],
            ),
            upsert(
                "purchase",
                uuid.uuid4(),
                "phone",
                **purchase_fields(task, 5),
                media_ids=[str(uuid.uuid4())],
            ),
            upsert(
                "purchase",
                uuid.uuid4(),
                "phone",
                **purchase_fields(task, 5),
                media_ids=[theirs["media_id"]],
            ),
        ],
    )
    statuses = [(r["status"], (r.get("problem") or {}).get("code")) for r in answer["results"]]
    assert statuses == [
        ("applied", None),
        ("rejected", "unknown_media"),
        ("rejected", "unknown_media"),  # another tenant's media is no media of this one
    ]
