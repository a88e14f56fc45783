"""The policy layer: authenticate the caller, then enforce the route's permission.

The caller's credentials are a bearer access token, or what the route declares
with `@credentials` (the console's session cookie); the session, user and
permission checks are the same for both.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from syncd import appkeys
from syncd.auth import tokens
from syncd.auth.errors import PermissionDenied, TokenExpired, TokenInvalid, TokenMissing
from syncd.auth.permissions import Permission, credentials_of, permission_of, role_allows
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.web import keys
from syncd.web.keys import PRINCIPAL
from syncd.web.middlewares import Handler
from syncd.web.tenant import RESOLVED_TENANT, named_tenant

log = structlog.get_logger("syncd.auth")


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing("send 'Authorization: Bearer <access token>'")
    return token.strip()


def bearer_claims(request: web.Request) -> tokens.AccessClaims:
    """The claims of the request's bearer access token, checked."""
    settings = request.app[appkeys.SETTINGS]
    try:
        return tokens.decode_access(
            bearer_token(request), settings.jwt_access_secret, settings.jwt_issuer
        )
    except tokens.TokenError as exc:
        if exc.expired:
            raise TokenExpired("the access token has expired; refresh it") from None
        raise TokenInvalid(exc.detail) from None


async def authenticate(request: web.Request) -> Principal:
    """Check the caller's credentials and load the live user behind them."""
    reader = credentials_of(request.match_info.handler) or bearer_claims
    claims: tokens.AccessClaims = reader(request)
    request[keys.TOKEN_TENANT] = claims.tenant_id
    tenant, who = await request.app[appkeys.AUTH].principal_for(
        claims, named_tenant(request), lambda found: request.__setitem__(RESOLVED_TENANT, found)
    )
    request[PRINCIPAL] = who
    structlog.contextvars.bind_contextvars(tenant=tenant.slug, user=str(who.user_id))
    return who


def authorise(who: Principal, permission: Permission) -> None:
    if permission is Permission.PLATFORM:
        if not who.is_platform_operator:
            raise PermissionDenied("only a platform operator may do this")
    elif not role_allows(who.role, permission):
        raise PermissionDenied(
            Msg(
                "the {role} role lacks '{permission}'",
                role=who.role.value,
                permission=permission.value,
            )
        )


@web.middleware
async def policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # 404/405: let the router answer
        return await handler(request)
    permission = permission_of(match.handler)
    if permission is None:
        log.error("route declares no permission", path=request.path)
        raise PermissionDenied(Msg("this route declares no permission; refused"))
    if permission is not Permission.PUBLIC:
        authorise(await authenticate(request), permission)
    return await handler(request)
