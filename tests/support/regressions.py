"""Helpers for the regressions from a client written from docs/protocol.md alone
(tests/integration/sync/test_sync_fixes_*.py): a purchase's fields, an admin and a
technician, an assigned task with a purchase, a technician's snapshot.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import Replica, action, push, upsert

Sessions = async_sessionmaker[AsyncSession]
WHEN = "2026-11-24T09:20:00Z"


def purchase_fields(task_id: uuid.UUID, amount: int) -> dict[str, Any]:
    return {
        "task_id": str(task_id),
        "vendor": "Riyadh Pumps",
        "amount_minor": amount,
        "currency": "SAR",
        "purchased_at": WHEN,
    }


async def admin_and_tech(client: Any, sessions: Sessions) -> tuple[Account, Account]:
    tenant = await make_tenant(sessions)
    return (
        await signed_in(client, sessions, Role.ADMIN, tenant),
        await signed_in(client, sessions, Role.TECHNICIAN, tenant),
    )


async def assigned_task_with_purchase(
    client: Any, admin: Account, tech: Account
) -> tuple[uuid.UUID, uuid.UUID]:
    task, purchase = uuid.uuid4(), uuid.uuid4()
    answer = await push(
        client,
        admin,
        "dash",
        [
            upsert("task", task, "dash", title="Pump"),
            upsert("purchase", purchase, "dash", **purchase_fields(task, 100)),
            action(task, "assign", "dash", fields={"user_id": str(tech.user_id)}),
        ],
    )
    assert [r["status"] for r in answer["results"]] == ["applied"] * 3, answer
    return task, purchase


async def technician_snapshot(
    client: Any, account: Account
) -> dict[tuple[str, str], dict[str, Any]]:
    fresh = Replica()
    await fresh.sync(client, account)
    return fresh.rows
