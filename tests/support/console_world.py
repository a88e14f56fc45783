"""Worlds for the console's tests: a tenant's people, and what their devices make.

A conflict comes from two technicians' phones pushing concurrent edits through
POST /sync/push; a rejected change from a device pushing a receipt of a
purchase the server does not know yet; a failed job from a job sheet whose
folder is blocked by a file (tests/integration/admin/test_jobs_admin.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Tenant
from tests.support.factories import Account, login, make_tenant, make_user
from tests.support.sync import Replica, action, push, upsert

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Team:
    tenant: Tenant
    admin: Account
    staff: Account
    tech_a: Account
    tech_b: Account


async def team(client: Any, sessions: Sessions, **tenant_fields: Any) -> Team:
    tenant = await make_tenant(sessions, **tenant_fields)

    async def person(role: Role, name: str) -> Account:
        return await login(client, await make_user(sessions, tenant, role, display_name=name))

    return Team(
        tenant,
        await person(Role.ADMIN, "Admin"),
        await person(Role.STAFF, "Dispatcher"),
        await person(Role.TECHNICIAN, "Amal"),
        await person(Role.TECHNICIAN, "Omar"),
    )


@dataclass
class Made:
    task_id: uuid.UUID
    conflict_id: str
    phone_a: Replica
    phone_b: Replica


async def two_phone_conflict(client: Any, world: Team, title: str = "Replace the pump") -> Made:
    """Both technicians' phones set the task's priority from the same base: a conflict."""
    task_id = uuid.uuid4()
    await push(
        client,
        world.staff,
        "dispatch-desk",
        [
            upsert("task", task_id, "dispatch-desk", title=title, priority="normal"),
            action(
                task_id, "assign", "dispatch-desk", fields={"user_id": str(world.tech_a.user_id)}
            ),
            action(
                task_id, "assign", "dispatch-desk", fields={"user_id": str(world.tech_b.user_id)}
            ),
        ],
    )
    phone_a, phone_b = Replica(), Replica()
    await phone_a.sync(client, world.tech_a)
    await phone_b.sync(client, world.tech_b)
    base = phone_a.rows[("task", str(task_id))]["version"]
    await push(
        client,
        world.tech_b,
        "phone-omar",
        [upsert("task", task_id, "phone-omar", base, priority="high")],
    )
    answer = await push(
        client,
        world.tech_a,
        "phone-amal",
        [upsert("task", task_id, "phone-amal", base, priority="low")],
    )
    (result,) = answer["results"]
    assert result["status"] == "conflict", answer
    return Made(task_id, result["conflict_id"], phone_a, phone_b)


def receipt_change(purchase_id: uuid.UUID, node: str) -> dict[str, Any]:
    return upsert(
        "receipt",
        uuid.uuid4(),
        node,
        purchase_id=str(purchase_id),
        total_minor=1250,
        currency="EUR",
        issued_at="2026-11-24T10:00:00Z",
    )


def purchase_change(purchase_id: uuid.UUID, node: str) -> dict[str, Any]:
    return upsert(
        "purchase",
        purchase_id,
        node,
        vendor="Hardware",
        amount_minor=1250,
        currency="EUR",
        purchased_at="2026-11-24T09:00:00Z",
    )
