"""Tenants: the platform operator's CRUD and a tenant admin's own settings and logo.

    GET    /platform/tenants              PLATFORM       ?active=true|false&q=&cursor=&limit=
    POST   /platform/tenants              PLATFORM       201; 409 slug_taken
    GET    /platform/tenants/{tenant_id}  PLATFORM       404 tenant_not_found
    PATCH  /platform/tenants/{tenant_id}  PLATFORM       409 system_tenant_locked
    GET    /tenant                        TENANT_READ    ETag
    PATCH  /tenant                        TENANT_MANAGE  If-Match, 412 precondition_failed
    GET    /tenant/logo                   TENANT_READ    404 logo_not_found
    PUT    /tenant/logo                   TENANT_MANAGE  raw PNG, JPEG or WebP; 413, 415, 422
    DELETE /tenant/logo                   TENANT_MANAGE

The use cases live in syncd.tenants.service; this module parses, authorises,
calls them and shapes the answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from storage.blobs import CHUNK_BYTES, BlobNotFound
from storage.models import Tenant, User
from storage.unit_of_work import PlatformUnitOfWork
from syncd import appkeys
from syncd.auth.errors import PasswordPolicy, SlugTaken, checked_password
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import Binary, describe
from syncd.tenants import logos, service
from syncd.tenants.schemas import (
    PlatformTenantPage,
    PlatformTenantRead,
    PlatformTenantUpdate,
    TenantCreate,
    TenantCreated,
    TenantListQuery,
    TenantPath,
    TenantRead,
    TenantUpdate,
)
from syncd.web import keys
from syncd.web.body import parse_body, path_uuid
from syncd.web.boundary import paced
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.middlewares import REQUEST_ID_HEADER, own_body_limit, security_headers
from syncd.web.origin import origin_of
from syncd.web.pagination import page, page_params
from syncd.web.problems import (
    PayloadTooLarge,
    PreconditionFailed,
    TenantNotFound,
    UnsupportedMediaType,
    ValidationFailed,
)
from syncd.web.tenant import tenant_uow

routes = web.RouteTableDef()

DEFAULT_PRIMARY_COLOR = "#0f766e"
DEFAULT_SECONDARY_COLOR = "#334155"
LOGO = Binary(("image/png", "image/jpeg", "image/webp"))
IF_MATCH = {"If-Match": "the ETag you read; a stale one is 412 precondition_failed"}


# --- shapes --------------------------------------------------------------------


def tenant_read(tenant: Tenant) -> dict[str, Any]:
    """A tenant as its own users see it."""
    branding = tenant.branding or {}
    logo = logos.logo_of(tenant)
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "locale": tenant.locale,
        "time_zone": tenant.time_zone,
        "branding": {
            "primary_color": branding.get("primary_color", DEFAULT_PRIMARY_COLOR),
            "secondary_color": branding.get("secondary_color", DEFAULT_SECONDARY_COLOR),
            "logo_url": None if logo is None else f"/tenant/logo?v={logo.id}",
        },
        "updated_at": tenant.updated_at.isoformat(),
    }


def platform_tenant_read(tenant: Tenant) -> dict[str, Any]:
    """A tenant as the platform operator sees it."""
    return {
        **tenant_read(tenant),
        "is_active": tenant.is_active,
        "is_system": tenant.is_system,
        "created_at": tenant.created_at.isoformat(),
    }


def tenant_response(tenant: Tenant, status: int = 200, platform: bool = False) -> web.Response:
    body = platform_tenant_read(tenant) if platform else tenant_read(tenant)
    return web.json_response(body, status=status, headers={"ETag": service.etag(tenant)})


def tenant_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "tenant_id",
        lambda raw: TenantNotFound(Msg("no tenant {tenant_id}", tenant_id=repr(raw))),
    )


def _active_filter(request: web.Request) -> bool | None:
    raw = request.query.get("active")
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise ValidationFailed(
            Msg("active must be true or false"),
            errors=[
                {"field": "active", "code": "bool_parsing", "message": Msg("must be true or false")}
            ],
        )
    return raw == "true"


def _platform(request: web.Request) -> PlatformUnitOfWork:
    return PlatformUnitOfWork(request.app[appkeys.SESSIONS])


# --- platform operator ---------------------------------------------------------


@routes.get("/platform/tenants")
@requires(Permission.PLATFORM)
@describe(
    summary="List tenants",
    query=TenantListQuery,
    responses={200: PlatformTenantPage},
    problems=[InvalidCursor],
)
async def list_tenants(request: web.Request) -> web.Response:
    cursor, limit = page_params(request)
    tenants, next_cursor = await service.list_tenants(
        _platform(request),
        active=_active_filter(request),
        q=request.query.get("q", "").strip() or None,
        cursor=cursor,
        limit=limit,
    )
    return web.json_response(page([platform_tenant_read(t) for t in tenants], limit, next_cursor))


@routes.post("/platform/tenants")
@requires(Permission.PLATFORM)
@describe(
    summary="Create a tenant (and optionally its first admin)",
    body=TenantCreate,
    responses={201: TenantCreated},
    problems=[SlugTaken, PasswordPolicy],
)
async def create_tenant(request: web.Request) -> web.Response:
    body = await parse_body(request, TenantCreate)
    admin = body.admin
    password_hash = None
    if admin is not None:
        password_hash = await request.app[appkeys.AUTH].hash(checked_password(admin.password))
    new = service.NewTenant(
        slug=body.slug,
        name=body.name,
        locale=body.locale,
        time_zone=body.time_zone,
        admin_email=None if admin is None else str(admin.email).lower(),
        admin_password_hash=password_hash,
        admin_display_name="" if admin is None else admin.display_name,
    )
    tenant, user = await service.create_tenant(
        _platform(request), new, origin=origin_of(request), actor=principal(request)
    )
    answer: dict[str, Any] = {**platform_tenant_read(tenant), "admin": _user_read(user)}
    headers = {"ETag": service.etag(tenant), "Location": f"/platform/tenants/{tenant.id}"}
    return web.json_response(answer, status=201, headers=headers)


def _user_read(user: User | None) -> dict[str, str] | None:
    if user is None:
        return None
    return {"id": str(user.id), "email": user.email, "role": user.role}


@routes.get("/platform/tenants/{tenant_id}")
@requires(Permission.PLATFORM)
@describe(summary="Read a tenant", path=TenantPath, responses={200: PlatformTenantRead})
async def get_tenant(request: web.Request) -> web.Response:
    tenant = await service.get_tenant(
        _platform(request),
        tenant_id_of(request),
    )
    return tenant_response(tenant, platform=True)


@routes.patch("/platform/tenants/{tenant_id}")
@requires(Permission.PLATFORM)
@describe(
    summary="Change a tenant's settings or (de)activate it",
    path=TenantPath,
    body=PlatformTenantUpdate,
    headers=IF_MATCH,
    responses={200: PlatformTenantRead},
    problems=[PreconditionFailed, service.SystemTenantLocked],
)
async def update_tenant(request: web.Request) -> web.Response:
    tenant_id = tenant_id_of(request)
    body = await parse_body(request, PlatformTenantUpdate)
    tenant = await service.update_tenant(
        _platform(request),
        tenant_id,
        body.model_dump(exclude_unset=True),
        if_match=request.headers.get("If-Match"),
        view=platform_tenant_read,
        origin=origin_of(request),
        actor=principal(request),
    )
    return tenant_response(tenant, platform=True)


# --- the caller's own tenant ---------------------------------------------------


@routes.get("/tenant")
@requires(Permission.TENANT_READ)
@describe(summary="Read your tenant", responses={200: TenantRead})
async def get_own_tenant(request: web.Request) -> web.Response:
    return tenant_response(await service.own_tenant(await tenant_uow(request)))


@routes.patch("/tenant")
@requires(Permission.TENANT_MANAGE)
@describe(
    summary="Change your tenant's settings and branding",
    body=TenantUpdate,
    headers=IF_MATCH,
    responses={200: TenantRead},
    problems=[PreconditionFailed],
)
async def update_own_tenant(request: web.Request) -> web.Response:
    body = await parse_body(request, TenantUpdate)
    uow = await tenant_uow(request)
    tenant = await service.update_tenant(
        uow,
        uow.tenant_id,
        body.model_dump(exclude_unset=True),
        if_match=request.headers.get("If-Match"),
        view=tenant_read,
        origin=origin_of(request),
        actor=principal(request),
    )
    return tenant_response(tenant)


@routes.put("/tenant/logo")
@requires(Permission.TENANT_MANAGE)
@own_body_limit  # MAX_LOGO_BYTES, below
@describe(
    summary="Upload your tenant's logo (raw PNG, JPEG or WebP)",
    body=LOGO,
    responses={200: TenantRead},
    problems=[logos.LogoTooLarge, PayloadTooLarge, UnsupportedMediaType, logos.InvalidImage],
)
async def put_logo(request: web.Request) -> web.Response:
    limit = request.app[appkeys.SETTINGS].max_logo_bytes
    if request.content_length is not None and request.content_length > limit:
        raise logos.LogoTooLarge(Msg("a logo may be at most {limit} bytes", limit=limit))
    tenant = await logos.replace_logo(
        await tenant_uow(request),
        request.app[appkeys.BLOBS],
        paced(request, CHUNK_BYTES),
        content_type=request.content_type,
        max_bytes=limit,
        origin=origin_of(request),
        actor=principal(request),
    )
    return tenant_response(tenant)


@routes.get("/tenant/logo")
@requires(Permission.TENANT_READ)
@describe(
    summary="Download your tenant's logo", responses={200: LOGO}, problems=[logos.LogoNotFound]
)
async def get_logo(request: web.Request) -> web.StreamResponse:
    logo = await logos.current_logo(await tenant_uow(request))
    try:
        async with request.app[appkeys.BLOBS].open(logo.key) as chunks:
            response = web.StreamResponse(headers=_stream_headers(request, logo))
            response.content_type = logo.content_type
            response.content_length = logo.size
            await response.prepare(request)
            if request.method != "HEAD":  # aiohttp would send a HEAD's body
                async for chunk in chunks:
                    await response.write(chunk)
    except BlobNotFound:
        raise logos.LogoNotFound(Msg("the logo's file is missing")) from None
    await response.write_eof()
    return response


def _stream_headers(request: web.Request, logo: logos.Logo) -> dict[str, str]:
    # A prepared response skips the request_context middleware: set its headers here.
    return {
        **security_headers(request.app[appkeys.SETTINGS]),
        REQUEST_ID_HEADER: request[keys.REQUEST_ID],
        "ETag": f'"{logo.id}"',
        "Cache-Control": "private, no-cache",
    }


@routes.delete("/tenant/logo")
@requires(Permission.TENANT_MANAGE)
@describe(summary="Remove your tenant's logo", responses={204: None}, problems=[logos.LogoNotFound])
async def delete_logo(request: web.Request) -> web.Response:
    await logos.delete_logo(
        await tenant_uow(request),
        request.app[appkeys.BLOBS],
        origin=origin_of(request),
        actor=principal(request),
    )
    return web.Response(status=204)
