"""A tenant's logo: stored under a fresh key per upload, checked to be the image it claims.

The upload streams to the blob store, Pillow checks it really is the declared
image type, the tenant row is pointed at it, and only after the commit is the
previous logo deleted. A failed upload leaves the current logo untouched.
Keys: `tenants/<tenant_id>/branding/logo-<id>`.
"""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

import structlog
from PIL import Image

from storage.blobs import BlobError, BlobStore, BlobTooLarge
from storage.models import Tenant
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin.audit import Origin
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.tenants.service import audit_tenant, locked_tenant, own_tenant
from syncd.web.problems import NotFound, PayloadTooLarge, Problem, UnsupportedMediaType

LOGO_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
MAX_LOGO_PIXELS = 4096 * 4096
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
class Logo:
    id: str
    key: str
    content_type: str
    size: int


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
            tenant = await locked_tenant(uow, uow.tenant_id)
            previous = logo_of(tenant)
            meta = {"id": logo_id, "key": key, "content_type": content_type, "size": size}
            tenant.branding = {**(tenant.branding or {}), "logo": meta}
            details = dict(content_type=content_type, size=size, width=width, height=height)
            audit_tenant(uow.session, "tenant_logo_updated", tenant, origin, actor, details)
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
        tenant = await locked_tenant(uow, uow.tenant_id)
        logo = logo_of(tenant)
        if logo is None:
            raise LogoNotFound("this tenant has no logo")
        tenant.branding = {k: v for k, v in (tenant.branding or {}).items() if k != "logo"}
        audit_tenant(
            uow.session, "tenant_logo_deleted", tenant, origin, actor, {"logo_id": logo.id}
        )
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


async def _forget(blobs: BlobStore, key: str) -> None:
    """Delete a blob nothing points to; a failure leaves an orphan, logged."""
    try:
        await blobs.delete(key)
    except (BlobError, OSError) as exc:
        log.warning("could not delete an unused blob", key=key, error=str(exc))
