"""`syncd seed` and `syncd create-operator`: bootstrap rows, created idempotently.

`seed` makes the system tenant (home of the platform operators), the demo
tenant and the demo admin. `create_operator` makes a platform operator: an
admin user of the system tenant with `is_platform_operator` set (see
docs/decisions.md, "Platform operators").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Tenant, User
from storage.unit_of_work import PlatformUnitOfWork
from syncd.admin import audit
from syncd.passwords import BCRYPT_ROUNDS, check_policy, hash_password
from syncd.tenants.founding import NewAdmin, add_admin, found_tenant

DEMO_SLUG = "demo"
SYSTEM_SLUG = "system"
SYSTEM_NAME = "Platform"
DEFAULT_ADMIN_EMAIL = "admin@demo.example"


@dataclass(frozen=True, slots=True)
class SeedResult:
    tenant_created: bool
    admin_created: bool
    admin_email: str
    generated_password: str | None
    system_tenant_created: bool = False


@dataclass(frozen=True, slots=True)
class OperatorResult:
    email: str
    created: bool
    password_set: bool
    generated_password: str | None


async def ensure_system_tenant(session: AsyncSession) -> tuple[Tenant, bool]:
    """The system tenant, created if absent; (tenant, created)."""
    tenant = (
        await session.execute(select(Tenant).where(Tenant.slug == SYSTEM_SLUG))
    ).scalar_one_or_none()
    if tenant is not None:
        return tenant, False
    tenant, _ = await found_tenant(session, SYSTEM_SLUG, SYSTEM_NAME, is_system=True)
    return tenant, True


async def seed(
    sessions: async_sessionmaker[AsyncSession],
    admin_email: str | None = None,
    admin_password: str | None = None,
) -> SeedResult:
    """Create the system tenant, tenant `demo` and its admin unless they exist."""
    email = (admin_email or DEFAULT_ADMIN_EMAIL).strip().lower()
    async with PlatformUnitOfWork(sessions) as uow:
        session = uow.session
        _, system_created = await ensure_system_tenant(session)
        tenant = (
            await session.execute(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        ).scalar_one_or_none()
        existing = None
        if tenant is not None:
            existing = (
                await session.execute(
                    select(User).where(User.tenant_id == tenant.id, User.email == email)
                )
            ).scalar_one_or_none()
        generated = None
        admin = None
        if existing is None:
            password = admin_password
            if not password:
                password = generated = secrets.token_urlsafe(15)
            admin = NewAdmin(email, "Administrator", hash_password(password))
        tenant_created = tenant is None
        if tenant is None:
            await found_tenant(session, DEMO_SLUG, "Demo Field Services", admin=admin)
        elif admin is not None:
            add_admin(session, tenant.id, admin)
        await uow.commit()
    return SeedResult(tenant_created, existing is None, email, generated, system_created)


async def create_operator(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str | None,
    rounds: int = BCRYPT_ROUNDS,
) -> OperatorResult:
    """Create, or promote, `email` as a platform operator in the system tenant.

    A new operator gets `password`, or a generated one (answered once). An
    existing user of the system tenant becomes an active admin operator and
    keeps their password unless `password` is given. PasswordPolicyError if
    `password` breaks the policy.
    """
    email = email.strip().lower()
    if password:
        check_policy(password)
    async with PlatformUnitOfWork(sessions) as uow:
        session = uow.session
        tenant, _ = await ensure_system_tenant(session)
        user = (
            await session.execute(
                select(User).where(User.tenant_id == tenant.id, User.email == email)
            )
        ).scalar_one_or_none()
        generated = None
        created = user is None
        if user is None:
            if not password:
                password = generated = secrets.token_urlsafe(15)
            user = User(tenant_id=tenant.id, email=email, display_name="Platform operator")
            session.add(user)
        user.role = Role.ADMIN.value
        user.status = "active"
        user.is_platform_operator = True
        if password:
            user.password_hash = hash_password(password, rounds)
        await session.flush()
        audit.record(
            session,
            "platform_operator_granted",
            actor_id=None,
            target_type="user",
            target_id=user.id,
            details={"email": email, "via": "cli", "password_set": bool(password)},
            tenant_id=tenant.id,
        )
        await uow.commit()
    return OperatorResult(email, created, bool(password), generated)
