"""Users: role changes take effect at once, the last admin keeps the role (also
under a race), bad role bodies.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from protocol.roles import Role
from storage.models import User
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin.audit import NOWHERE
from syncd.auth.principal import Principal
from syncd.auth.ratelimit import MemoryLimiter
from syncd.auth.service import AuthService
from syncd.users.service import UserService
from tests.support.factories import Account, make_tenant, make_user, signed_in
from tests.support.users import Sessions, audit_entries, problem_code, stored_user


async def test_role_change_takes_effect_at_once(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    assert (await client.get("/users", headers=staff.headers)).status == 200
    response = await client.patch(
        f"/users/{staff.user_id}/role", json={"role": "technician"}, headers=admin.headers
    )
    assert response.status == 200
    assert (await response.json())["role"] == "technician"
    # The same access token now carries the technician's rights.
    assert (await client.get("/users", headers=staff.headers)).status == 403
    (entry,) = [
        e for e in await audit_entries(sessions, admin.tenant) if e.action == "role_changed"
    ]
    assert entry.details == {"old": "staff", "new": "technician"}
    assert entry.actor_id == admin.user_id
    assert entry.target_id == str(staff.user_id)
    same = await client.patch(
        f"/users/{staff.user_id}/role", json={"role": "technician"}, headers=admin.headers
    )
    assert same.status == 200
    actions = [e.action for e in await audit_entries(sessions, admin.tenant)]
    assert actions.count("role_changed") == 1  # no change, no entry


async def test_the_last_admin_keeps_the_role(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    refused = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert refused.status == 409
    assert await problem_code(refused) == "last_admin"
    # An inactive admin does not count.
    await make_user(sessions, admin.tenant, Role.ADMIN, status="inactive")
    again = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert await problem_code(again) == "last_admin"
    other = await make_user(sessions, admin.tenant, Role.ADMIN)
    stepped_down = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert stepped_down.status == 200
    assert (await stored_user(sessions, admin.tenant, admin.user_id)).role == "staff"
    assert (await stored_user(sessions, admin.tenant, other.user_id)).role == "admin"


async def lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def wait_for_lock_waiters(engine: AsyncEngine, count: int, timeout_s: float = 10) -> None:
    """Poll PostgreSQL (nothing to subscribe to) until `count` sessions wait on a lock."""
    for _ in range(int(timeout_s / 0.01)):
        if await lock_waiters(engine) >= count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"fewer than {count} transactions waited on a lock within {timeout_s} s")


async def test_two_admins_demoting_each_other_at_once_leave_one(
    sessions: Sessions, settings: Any, engine: AsyncEngine
) -> None:
    # Straight to the service, so both calls are past the permission check; the
    # test holds the admin rows until both are waiting, then lets them race.
    tenant = await make_tenant(sessions)
    first = await make_user(sessions, tenant, Role.ADMIN)
    second = await make_user(sessions, tenant, Role.ADMIN)
    service = UserService(settings, sessions, AuthService(settings, sessions, MemoryLimiter(60)))

    def who(account: Account) -> Principal:
        return Principal(account.user_id, tenant.id, Role.ADMIN, uuid.uuid4(), account.email)

    async with TenantUnitOfWork(sessions, tenant.id) as holder:
        # On SQLite BEGIN IMMEDIATE already holds the write lock.
        await holder.session.execute(select(User.id).with_for_update())
        racing = asyncio.gather(
            service.change_role(NOWHERE, who(first), second.user_id, Role.STAFF),
            service.change_role(NOWHERE, who(second), first.user_id, Role.STAFF),
            return_exceptions=True,
        )
        if engine.dialect.name == "postgresql":
            await wait_for_lock_waiters(engine, 2)
        await holder.commit()
    outcomes = await racing
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LastAdmin", "UserInfo"]
    roles = {(await stored_user(sessions, tenant, a.user_id)).role for a in (first, second)}
    assert roles == {"admin", "staff"}


async def test_bad_role_bodies(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await make_user(sessions, admin.tenant, Role.STAFF)
    for body in ({}, {"role": "owner"}, {"role": "staff", "extra": 1}):
        response = await client.patch(
            f"/users/{staff.user_id}/role", json=body, headers=admin.headers
        )
        assert response.status == 422
        assert await problem_code(response) == "validation_failed"
    missing = await client.patch(
        f"/users/{uuid.uuid4()}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert await problem_code(missing) == "user_not_found"
