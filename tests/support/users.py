"""Helpers for the users tests: invite and accept over REST, read a problem code,
the outbox, the audit log and a stored user, list ids, change a password, two tenants.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, OutboxMail, Tenant, User
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import PASSWORD, Account, signed_in

Sessions = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "a-brand-new-passphrase"


async def invite(client: Any, admin: Account, email: str, **fields: Any) -> Any:
    body = {"email": email, "role": fields.pop("role", "staff"), **fields}
    return await client.post("/users/invite", json=body, headers=admin.headers)


async def invited(client: Any, admin: Account, email: str, **fields: Any) -> dict[str, Any]:
    response = await invite(client, admin, email, **fields)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def accept(client: Any, tenant: Tenant, token: str, password: str = PASSWORD) -> Any:
    return await client.post(
        "/auth/accept-invite",
        json={"token": token, "password": password},
        headers={"X-Tenant": tenant.slug},
    )


async def problem_code(response: Any) -> str:
    code: str = (await response.json(content_type=None))["code"]
    return code


async def outbox(sessions: Sessions, tenant: Tenant) -> list[OutboxMail]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        rows = list(await uow.session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))
        await uow.commit()  # keeps the rows loaded (a rollback would expire them)
    return rows


async def audit_entries(sessions: Sessions, tenant: Tenant) -> list[AuditEntry]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        entries = list(await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        await uow.commit()
    return entries


async def stored_user(sessions: Sessions, tenant: Tenant, user_id: uuid.UUID | str) -> User:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        user = await uow.session.get(User, (tenant.id, uuid.UUID(str(user_id))))
        await uow.commit()
    assert user is not None
    return user


async def list_ids(client: Any, account: Account, query: str = "") -> list[str]:
    response = await client.get(f"/users{query}", headers=account.headers)
    assert response.status == 200, await response.text()
    return [item["id"] for item in (await response.json())["items"]]


async def change_password(client: Any, account: Account, current: str, new: str) -> Any:
    return await client.post(
        "/users/me/password",
        json={"current_password": current, "new_password": new},
        headers=account.headers,
    )


async def two_tenants(client: Any, sessions: Sessions) -> tuple[Account, Account, Account]:
    """(admin of A, a staff member of A, admin of B)."""
    admin_a = await signed_in(client, sessions)
    staff_a = await signed_in(client, sessions, Role.STAFF, tenant=admin_a.tenant)
    admin_b = await signed_in(client, sessions)
    return admin_a, staff_a, admin_b
