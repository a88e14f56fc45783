"""Auth routes: login, refresh, logout, who am I, and dev-only registration."""

from __future__ import annotations

from aiohttp import web

from storage.unit_of_work import PlatformUnitOfWork
from syncd import appkeys
from syncd.admin import audit
from syncd.auth.errors import (
    InvalidCredentials,
    LoginThrottled,
    PasswordPolicy,
    RefreshInvalid,
    RefreshReused,
    SlugTaken,
    checked_password,
)
from syncd.auth.permissions import Permission, public, requires
from syncd.auth.schemas import (
    LoginBody,
    MeRead,
    RefreshBody,
    RegisterBody,
    Registered,
    TokenPairRead,
)
from syncd.openapi import describe
from syncd.tenants.founding import (
    NewAdmin,
    found_tenant,
    refuse_reserved,
    refuse_taken,
)
from syncd.web.body import parse_body
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.problems import NotFound, TenantNotFound
from syncd.web.tenant import current_tenant

routes = web.RouteTableDef()


@routes.post("/auth/login")
@public
@describe(
    summary="Sign in with email and password",
    body=LoginBody,
    responses={200: TokenPairRead},
    problems=[InvalidCredentials, LoginThrottled],
    tenant=True,
    description="Name the tenant with `X-Tenant` (slug or id) or its subdomain.",
)
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    try:
        tenant = await current_tenant(request)
    except TenantNotFound:
        # An unknown tenant costs the bcrypt a wrong password costs: no timing tells.
        await request.app[appkeys.AUTH].verify(body.password, None)
        raise
    pair = await request.app[appkeys.AUTH].login(
        origin_of(request), tenant, body.email, body.password, body.client_id
    )
    return web.json_response(pair.as_json())


@routes.post("/auth/refresh")
@public
@describe(
    summary="Trade a refresh token for a new token pair",
    body=RefreshBody,
    responses={200: TokenPairRead},
    problems=[RefreshInvalid, RefreshReused],
    description="Refresh tokens rotate: each is good once; reusing one ends the session.",
)
async def refresh(request: web.Request) -> web.Response:
    body = await parse_body(request, RefreshBody)
    pair = await request.app[appkeys.AUTH].refresh(origin_of(request), body.refresh_token)
    return web.json_response(pair.as_json())


@routes.post("/auth/logout")
@requires(Permission.AUTHENTICATED)
@describe(summary="End this session", responses={204: None})
async def logout(request: web.Request) -> web.Response:
    await request.app[appkeys.AUTH].logout(origin_of(request), principal(request))
    return web.Response(status=204)


@routes.get("/auth/me")
@requires(Permission.AUTHENTICATED)
@describe(summary="Who am I", responses={200: MeRead})
async def me(request: web.Request) -> web.Response:
    who = principal(request)
    tenant = await current_tenant(request)
    return web.json_response(
        {
            "user_id": str(who.user_id),
            "email": who.email,
            "role": who.role.value,
            "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
            "is_platform_operator": who.is_platform_operator,
            "session_id": str(who.session_id),
        }
    )


@routes.post("/auth/register")
@public
@describe(
    summary="Create a tenant and its first admin",
    body=RegisterBody,
    responses={201: Registered},
    problems=[404, SlugTaken, PasswordPolicy],
)
async def register(request: web.Request) -> web.Response:
    """Create a tenant and its first admin. Only where registration is enabled."""
    if not request.app[appkeys.SETTINGS].register_enabled:
        raise NotFound()
    body = await parse_body(request, RegisterBody)
    refuse_reserved(body.tenant_slug)
    password_hash = await request.app[appkeys.AUTH].hash(checked_password(body.password))
    admin = NewAdmin(str(body.email).lower(), body.display_name, password_hash)
    async with PlatformUnitOfWork(request.app[appkeys.SESSIONS]) as uow:
        session = uow.session
        await refuse_taken(session, body.tenant_slug)
        tenant, user = await found_tenant(session, body.tenant_slug, body.tenant_name, admin=admin)
        assert user is not None  # an admin was given
        audit.record(
            session,
            "register",
            origin=origin_of(request),
            actor_id=user.id,
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=tenant.id,
        )
        await uow.commit()
    return web.json_response(
        {
            "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
            "user": {"id": str(user.id), "email": user.email, "role": user.role},
        },
        status=201,
    )
