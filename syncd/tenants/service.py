"""Tenant use cases: the platform operator's tenant CRUD, a tenant's own settings, its logo.

Each use case takes an unopened unit of work: a `PlatformUnitOfWork` for the
operator's cross-tenant work, the request's `TenantUnitOfWork` for a tenant's
own settings (which can then reach no other tenant's row). Every change writes
an audit entry in the changed tenant, in the same transaction.

Optimistic concurrency: a tenant's entity tag is its `updated_at` in
microseconds since the epoch, quoted (`"1732456789123456"`). A change to any
field, the branding and the logo included, moves it. `If-Match` is compared
on the opaque tag, ignoring a `W/` prefix, because a proxy that compresses
responses (nginx gzip) weakens the tags it passes on and clients echo them.

Logos are stored under a fresh key per upload
(`tenants/<tenant_id>/branding/logo-<id>`): the upload streams to the blob
store, Pillow checks it really is the declared image type, the tenant row is
pointed at it, and only after the commit is the previous logo deleted. A
failed upload leaves the current logo untouched.
"""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from PIL import Image
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.blobs import BlobError, BlobStore, BlobTooLarge
from storage.models import Tenant, User
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.errors import SlugTaken
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.tenants.founding import NewAdmin, found_tenant, refuse_reserved, refuse_taken
from syncd.web.pagination import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Problem,
    TenantNotFound,
    UnsupportedMediaType,
)

LOGO_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
MAX_LOGO_PIXELS = 4096 * 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What Pillow raises on data that is not (entirely) an image of the format asked for.
_UNDECODABLE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)

log = structlog.get_logger("syncd.tenants")

TenantView = Callable[[Tenant], dict[str, Any]]


class SystemTenantLocked(Conflict):
    code = "system_tenant_locked"
    title = "The system tenant cannot be deactivated"


class LogoNotFound(NotFound):
    code = "logo_not_found"
    title = "The tenant has no logo"


class LogoTooLarge(PayloadTooLarge):
    code = "logo_too_large"
    title = "The logo is too large"


class InvalidImage(Problem):
    status = 422
    code = "invalid_image"
    title = "The body is not a valid image of its declared type"


@dataclass(frozen=True, slots=True)
class NewTenant:
    slug: str
    name: str
    locale: str
    time_zone: str
    admin_email: str | None = None
    admin_password_hash: str | None = None
    admin_display_name: str = ""


@dataclass(frozen=True, slots=True)
class Logo:
    id: str
    key: str
    content_type: str
    size: int


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
            _audit(session, "tenant_created", tenant, origin, actor, details)
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
        tenant = await _locked(uow, tenant_id)
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
            _audit(uow.session, "tenant_updated", tenant, origin, actor, details)
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


def logo_of(tenant: Tenant) -> Logo | None:
    found = (tenant.branding or {}).get("logo")
    if not isinstance(found, dict):
        return None
    return Logo(found["id"], found["key"], found["content_type"], int(found["size"]))


async def current_logo(uow: TenantUnitOfWork) -> Logo:
    logo = logo_of(await own_tenant(uow))
    if logo is None:
        raise LogoNotFound("this tenant has no logo")
    return logo


async def replace_logo(
    uow: TenantUnitOfWork,
    blobs: BlobStore,
    chunks: AsyncIterable[bytes],
    *,
    content_type: str,
    max_bytes: int,
    origin: Origin,
    actor: Principal,
) -> Tenant:
    """Store a new logo streamed from `chunks`, checked to be a `content_type` image."""
    image_format = LOGO_FORMATS.get(content_type)
    if image_format is None:
        raise UnsupportedMediaType(
            Msg(
                "send the logo as {formats}, not {content_type}",
                formats=", ".join(LOGO_FORMATS),
                content_type=repr(content_type),
            )
        )
    logo_id = uuid.uuid4().hex
    key = f"tenants/{uow.tenant_id}/branding/logo-{logo_id}"
    try:
        size = await blobs.put_stream(key, chunks, max_bytes=max_bytes)
    except BlobTooLarge:
        raise LogoTooLarge(Msg("a logo may be at most {limit} bytes", limit=max_bytes)) from None
    committed = False
    try:
        width, height = await asyncio.to_thread(check_image, await blobs.read(key), image_format)
        async with uow:
            tenant = await _locked(uow, uow.tenant_id)
            previous = logo_of(tenant)
            meta = {"id": logo_id, "key": key, "content_type": content_type, "size": size}
            tenant.branding = {**(tenant.branding or {}), "logo": meta}
            details = dict(content_type=content_type, size=size, width=width, height=height)
            _audit(uow.session, "tenant_logo_updated", tenant, origin, actor, details)
            await uow.commit()
            committed = True
    finally:
        if not committed:
            await _forget(blobs, key)
    if previous is not None:
        await _forget(blobs, previous.key)
    return tenant


async def delete_logo(
    uow: TenantUnitOfWork, blobs: BlobStore, *, origin: Origin, actor: Principal
) -> None:
    async with uow:
        tenant = await _locked(uow, uow.tenant_id)
        logo = logo_of(tenant)
        if logo is None:
            raise LogoNotFound("this tenant has no logo")
        tenant.branding = {k: v for k, v in (tenant.branding or {}).items() if k != "logo"}
        _audit(uow.session, "tenant_logo_deleted", tenant, origin, actor, {"logo_id": logo.id})
        await uow.commit()
    await _forget(blobs, logo.key)


def check_image(data: bytes, image_format: str) -> tuple[int, int]:
    """(width, height) if `data` decodes fully as `image_format`, else InvalidImage."""
    try:
        with Image.open(io.BytesIO(data), formats=[image_format]) as image:
            width, height = image.size
            if width * height > MAX_LOGO_PIXELS:
                raise InvalidImage(
                    Msg("a logo may have at most {limit} pixels", limit=MAX_LOGO_PIXELS)
                )
            image.verify()
        with Image.open(io.BytesIO(data), formats=[image_format]) as image:
            image.load()
    except _UNDECODABLE:
        raise InvalidImage(
            Msg("the body is not a valid {image_format} image", image_format=image_format)
        ) from None
    return width, height


# --- helpers -------------------------------------------------------------------


async def _locked(uow: PlatformUnitOfWork | TenantUnitOfWork, tenant_id: uuid.UUID) -> Tenant:
    statement = select(Tenant).where(Tenant.id == tenant_id).with_for_update()
    tenant = (await uow.session.execute(statement)).scalar_one_or_none()
    if tenant is None:
        raise TenantNotFound(Msg("no tenant {tenant_id}", tenant_id=tenant_id))
    return tenant


async def _forget(blobs: BlobStore, key: str) -> None:
    """Delete a blob nothing points to; a failure leaves an orphan, logged."""
    try:
        await blobs.delete(key)
    except (BlobError, OSError) as exc:
        log.warning("could not delete an unused blob", key=key, error=str(exc))


def _audit(
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
