"""Regressions from a client written from docs/protocol.md alone, run through faults (#16).

Each test reproduces one bug with plain HTTP on both databases: a mixed
edit-and-create batch, unassign-then-delete, resolutions after a delete or a
later edit, reopen, and the smaller items.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.factories import signed_in
from tests.sync_helpers import push, upsert

Sessions = async_sessionmaker[AsyncSession]
WHEN = "2026-11-24T09:20:00Z"


def _purchase(task_id: uuid.UUID, amount: int) -> dict[str, Any]:
    return {
        "task_id": str(task_id),
        "vendor": "Riyadh Pumps",
        "amount_minor": amount,
        "currency": "SAR",
        "purchased_at": WHEN,
    }


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
            upsert("purchase", p1, "dev-a", **_purchase(task, 100)),
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
            upsert("purchase", p2, "dev-a", **_purchase(task, 200)),
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
