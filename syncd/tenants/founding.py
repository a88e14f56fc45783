"""Founding a tenant: the one place a tenant is made, with its version counter and first admin.

Used by `syncd seed` (the system and demo tenants), self-service registration
(`POST /auth/register`) and the platform operator's `POST /platform/tenants`.
The caller opens the platform unit of work, commits, and writes the audit
entry where one is due (each door says why the tenant was made).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.roles import Role
from storage.models import Tenant, TenantVersion, User
from syncd.auth.errors import SlugTaken
from syncd.i18n import Msg

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
RESERVED_SLUGS = frozenset({"system", "www", "api", "admin", "app", "static"})


@dataclass(frozen=True, slots=True)
class NewAdmin:
    """A tenant's first admin; without a password hash the account waits for a reset."""

    email: str
    display_name: str = ""
    password_hash: str | None = None


def refuse_reserved(slug: str) -> None:
    """SlugTaken if `slug` is kept for the platform (the system tenant, hostnames)."""
    if slug in RESERVED_SLUGS:
        raise SlugTaken(Msg("the slug {slug} is reserved", slug=repr(slug)))


async def refuse_taken(session: AsyncSession, slug: str) -> None:
    """SlugTaken if a tenant has `slug` already."""
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise SlugTaken(Msg("the slug {slug} is taken", slug=repr(slug)))


async def found_tenant(
    session: AsyncSession,
    slug: str,
    name: str,
    *,
    admin: NewAdmin | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    is_system: bool = False,
) -> tuple[Tenant, User | None]:
    """Add a tenant, its version counter at 0 and its first admin (if any) to the transaction.

    A setting left out takes the column's default. The tenant is flushed, so a
    slug taken meanwhile raises IntegrityError here.
    """
    settings = {"locale": locale, "time_zone": time_zone}
    tenant = Tenant(
        id=uuid.uuid4(),
        slug=slug,
        name=name,
        is_system=is_system,
        **{key: value for key, value in settings.items() if value is not None},
    )
    session.add(tenant)
    await session.flush()
    session.add(TenantVersion(tenant_id=tenant.id, version=0))
    user = None if admin is None else add_admin(session, tenant.id, admin)
    return tenant, user


def add_admin(session: AsyncSession, tenant_id: uuid.UUID, admin: NewAdmin) -> User:
    """Add an admin user to the tenant, in the caller's transaction."""
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=admin.email,
        display_name=admin.display_name,
        password_hash=admin.password_hash,
        role=Role.ADMIN.value,
    )
    session.add(user)
    return user
