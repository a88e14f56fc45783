"""Auth routes: login, refresh, logout, who am I, and dev-only registration."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import EmailStr, Field
from sqlalchemy import select

from protocol.roles import Role
from storage.models import Tenant, TenantVersion, User
from storage.unit_of_work import PlatformUnitOfWork
from syncd import appkeys, audit
from syncd.auth.errors import (
    InvalidCredentials,
    LoginThrottled,
    PasswordPolicy,
    RefreshInvalid,
    RefreshReused,
    SlugTaken,
)
from syncd.auth.permissions import Permission, public, requires
from syncd.auth.principal import principal
from syncd.auth.schemas import MeRead, Registered, TokenPairRead
from syncd.body import Body, NewPassword, Password, parse_body
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.passwords import PasswordPolicyError, check_policy
from syncd.problems import NotFound, TenantNotFound
from syncd.tenancy import current_tenant

routes = web.RouteTableDef()

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
RESERVED_SLUGS = frozenset({"system", "www", "api", "admin", "app", "static"})


class LoginBody(Body):
    email: str = Field(min_length=3, max_length=254)
    password: Password = Field(min_length=1)
    client_id: str | None = Field(None, min_length=1, max_length=100)


class RefreshBody(Body):
    refresh_token: str = Field(min_length=10, max_length=4096)


class RegisterBody(Body):
    tenant_slug: str = Field(pattern=SLUG_PATTERN)
    tenant_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: NewPassword
    display_name: str = Field("", max_length=200)


def checked_password(password: str) -> str:
    try:
        check_policy(password)
    except PasswordPolicyError as exc:
        raise PasswordPolicy(
            Msg("the password {rule}", rule=exc.rule),
            errors=[{"field": "password", "code": "password_policy", "message": exc.rule}],
        ) from None
    return password


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
        request, tenant, body.email, body.password, body.client_id
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
    pair = await request.app[appkeys.AUTH].refresh(request, body.refresh_token)
    return web.json_response(pair.as_json())


@routes.post("/auth/logout")
@requires(Permission.AUTHENTICATED)
@describe(summary="End this session", responses={204: None})
async def logout(request: web.Request) -> web.Response:
    await request.app[appkeys.AUTH].logout(request, principal(request))
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
    if body.tenant_slug in RESERVED_SLUGS:
        raise SlugTaken(Msg("the slug {slug} is reserved", slug=repr(body.tenant_slug)))
    password_hash = await request.app[appkeys.AUTH].hash(checked_password(body.password))
    async with PlatformUnitOfWork(request.app[appkeys.SESSIONS]) as uow:
        session = uow.session
        taken = await session.scalar(select(Tenant.id).where(Tenant.slug == body.tenant_slug))
        if taken is not None:
            raise SlugTaken(Msg("the slug {slug} is taken", slug=repr(body.tenant_slug)))
        tenant = Tenant(id=uuid.uuid4(), slug=body.tenant_slug, name=body.tenant_name)
        session.add(tenant)
        await session.flush()
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            email=str(body.email).lower(),
            display_name=body.display_name,
            password_hash=password_hash,
            role=Role.ADMIN.value,
        )
        session.add_all([TenantVersion(tenant_id=tenant.id, version=0), user])
        audit.record(
            session,
            "register",
            request=request,
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
