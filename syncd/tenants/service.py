"""Tenant use cases: the platform operator's tenant CRUD, a tenant's own settings.

Each use case takes an unopened unit of work: a `PlatformUnitOfWork` for the
operator's cross-tenant work, the request's `TenantUnitOfWork` for a tenant's
own settings (which can then reach no other tenant's row). Every change writes
an audit entry in the changed tenant, in the same transaction.

Optimistic concurrency: a tenant's entity tag is its `updated_at` in
microseconds since the epoch, quoted (`"1732456789123456"`). A change to any
field, the branding and the logo included, moves it. `If-Match` is compared
on the opaque tag, ignoring a `W/` prefix, because a proxy that compresses
responses (nginx gzip) weakens the tags it passes on and clients echo them.

A tenant's logo is `syncd.tenants.logos`; a new tenant is made by
`syncd.tenants.founding`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Tenant, User
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.errors import SlugTaken
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.tenants.founding import NewAdmin, found_tenant, refuse_reserved, refuse_taken
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import (
    Conflict,
    PreconditionFailed,
    TenantNotFound,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
TenantView = Callable[[Tenant], dict[str, Any]]


class SystemTenantLocked(Conflict):
    code = "system_tenant_locked"
    title = "The system tenant cannot be deactivated"


@dataclass(frozen=True, slots=True)
class NewTenant:
    slug: str
    name: str
    locale: str
    time_zone: str
    admin_email: str | None = None
    admin_password_hash: str | None = None
    admin_display_name: str = ""


# --- entity tags ---------------------------------------------------------------


def etag(tenant: Tenant) -> str:
    return f'"{(tenant.updated_at - _EPOCH) // _MICROSECOND}"'


def if_match_holds(if_match: str | None, current: str) -> bool:
    """Whether an `If-Match` header (absent, `*`, or a list of tags) admits `current`."""
    if if_match is None:
        return True
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return "*" in tags or current in tags


# --- platform: every tenant ----------------------------------------------------


async def list_tenants(
    uow: PlatformUnitOfWork,
    *,
    active: bool | None,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Tenant], str | None]:
    """A page of tenants by slug, and the cursor of the next page (or None)."""
    statement = select(Tenant).order_by(Tenant.slug).limit(limit + 1)
    if active is not None:
        statement = statement.where(Tenant.is_active.is_(active))
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern += "%"
        statement = statement.where(
            or_(
                func.lower(Tenant.slug).like(pattern, escape="\\"),
                func.lower(Tenant.name).like(pattern, escape="\\"),
            )
        )
    if cursor is not None:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, str):
            raise InvalidCursor("the cursor was not made by this server")
        statement = statement.where(Tenant.slug > after)
    async with uow:
        rows = list((await uow.session.execute(statement)).scalars())
        uow.session.expunge_all()  # read only: keep the rows past the rollback
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(rows[limit - 1].slug)


async def get_tenant(uow: PlatformUnitOfWork, tenant_id: uuid.UUID) -> Tenant:
    async with uow:
        tenant = await uow.session.get(Tenant, tenant_id)
        uow.session.expunge_all()
    if tenant is None:
        raise TenantNotFound(Msg("no tenant {tenant_id}", tenant_id=tenant_id))
    return tenant


async def create_tenant(
    uow: PlatformUnitOfWork, new: NewTenant, *, origin: Origin, actor: Principal
) -> tuple[Tenant, User | None]:
    """A tenant, its version counter and optionally its first admin."""
    refuse_reserved(new.slug)
    async with uow:
        session = uow.session
        await refuse_taken(session, new.slug)
        admin = None
        details: dict[str, Any] = {"slug": new.slug, "name": new.name, "via": "platform"}
        if new.admin_email is not None:
            admin = NewAdmin(new.admin_email, new.admin_display_name, new.admin_password_hash)
            details["admin_email"] = new.admin_email
        try:
            tenant, user = await found_tenant(
                session,
                new.slug,
                new.name,
                admin=admin,
                locale=new.locale,
                time_zone=new.time_zone,
            )
            audit_tenant(session, "tenant_created", tenant, origin, actor, details)
            await uow.commit()
        except IntegrityError:
            raise SlugTaken(Msg("the slug {slug} is taken", slug=repr(new.slug))) from None
    return tenant, user


# --- changes (platform and own tenant) -----------------------------------------


async def update_tenant(
    uow: PlatformUnitOfWork | TenantUnitOfWork,
    tenant_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    if_match: str | None,
    view: TenantView,
    origin: Origin,
    actor: Principal,
) -> Tenant:
    """Apply `changes` (fields left out are kept) unless `if_match` is stale.

    `changes` may hold name, locale, time_zone, is_active and branding (a dict
    of colours; None restores the default colour). `view` shapes the current
    tenant in a 412 answer.
    """
    async with uow:
        tenant = await locked_tenant(uow, tenant_id)
        current = etag(tenant)
        if not if_match_holds(if_match, current):
            raise PreconditionFailed(
                Msg("the tenant changed since you read it; the current state is attached"),
                extra={"current": view(tenant)},
                headers={"ETag": current},
            )
        if changes.get("is_active") is False and tenant.is_system:
            raise SystemTenantLocked(Msg("the system tenant hosts the platform operators"))
        diff = _apply(tenant, changes)
        if diff:
            details: dict[str, Any] = {"changes": diff}
            if isinstance(uow, PlatformUnitOfWork):
                details["via"] = "platform"
            audit_tenant(uow.session, "tenant_updated", tenant, origin, actor, details)
        await uow.commit()
    return tenant


def _apply(tenant: Tenant, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    diff: dict[str, dict[str, Any]] = {}
    for field in ("name", "locale", "time_zone", "is_active"):
        if field in changes and changes[field] != getattr(tenant, field):
            diff[field] = {"from": getattr(tenant, field), "to": changes[field]}
            setattr(tenant, field, changes[field])
    branding = dict(tenant.branding or {})
    for key, value in (changes.get("branding") or {}).items():
        if value != branding.get(key):
            diff[f"branding.{key}"] = {"from": branding.get(key), "to": value}
            if value is None:
                branding.pop(key, None)
            else:
                branding[key] = value
    if branding != (tenant.branding or {}):
        tenant.branding = branding
    return diff


# --- own tenant ----------------------------------------------------------------


async def own_tenant(uow: TenantUnitOfWork) -> Tenant:
    async with uow:
        tenant = (
            await uow.session.execute(select(Tenant).where(Tenant.id == uow.tenant_id))
        ).scalar_one_or_none()
        uow.session.expunge_all()
    if tenant is None:
        raise TenantNotFound(Msg("no tenant {tenant_id}", tenant_id=uow.tenant_id))
    return tenant


# --- helpers -------------------------------------------------------------------


async def locked_tenant(uow: PlatformUnitOfWork | TenantUnitOfWork, tenant_id: uuid.UUID) -> Tenant:
    statement = select(Tenant).where(Tenant.id == tenant_id).with_for_update()
    tenant = (await uow.session.execute(statement)).scalar_one_or_none()
    if tenant is None:
        raise TenantNotFound(Msg("no tenant {tenant_id}", tenant_id=tenant_id))
    return tenant


def audit_tenant(
    session: AsyncSession,
    action: str,
    tenant: Tenant,
    origin: Origin,
    actor: Principal,
    details: dict[str, Any],
) -> None:
    audit.record(
        session,
        action,
        origin=origin,
        actor_id=actor.user_id,
        target_type="tenant",
        target_id=tenant.id,
        details=details,
        tenant_id=tenant.id,
    )
