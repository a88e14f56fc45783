"""The console's session cookie: bound to a sign-in's refresh-token family.

Signing in through the console runs the API's own login (`AuthService.login`:
the throttle, the audit entry, a new refresh-token family) and keeps, in an
HttpOnly cookie, an access token of audience `syncd:console` for that family
(`CONSOLE_SESSION_TTL_SECONDS`). The policy middleware reads it for console
pages (`@credentials(session_claims)`) and checks it as it checks a bearer
token: the family must hold an unrevoked token and the user be active. So
logout, deactivation and a password change (which revoke the family) end the
console session at its next request. The cookie is never accepted as a bearer
token, nor a bearer token as the cookie: their audiences differ.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from syncd import appkeys
from syncd.auth import tokens
from syncd.auth.errors import TokenExpired, TokenInvalid, TokenMissing
from syncd.auth.service import TokenPair
from syncd.settings import Environment, Settings
from syncd.tenancy import TenantRef

SESSION_COOKIE = "syncd_console"
LANGUAGE_COOKIE = "syncd_console_lang"
COOKIE_PATH = "/console"
LANGUAGE_MAX_AGE_S = 365 * 86_400


def secure_cookies(settings: Settings) -> bool:
    """`Secure` outside dev (browsers keep Secure cookies of http://127.0.0.1 too)."""
    return settings.env is not Environment.DEV


def set_cookie(
    response: web.StreamResponse,
    settings: Settings,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=secure_cookies(settings),
        httponly=True,
        samesite="Strict",
    )


def session_claims(request: web.Request) -> tokens.AccessClaims:
    """The claims of the request's console session cookie (the console's credentials)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise TokenMissing("sign in to the console")
    settings = request.app[appkeys.SETTINGS]
    try:
        return tokens.decode_access(
            raw, settings.jwt_access_secret, settings.jwt_issuer, tokens.CONSOLE_AUDIENCE
        )
    except tokens.TokenError as exc:
        if exc.expired:
            raise TokenExpired("the console session has expired; sign in again") from None
        raise TokenInvalid(exc.detail) from None


def start_session(
    response: web.StreamResponse, settings: Settings, tenant: TenantRef, pair: TokenPair
) -> tokens.AccessClaims:
    """Keep the sign-in behind `pair` (just issued by AuthService.login) as the cookie."""
    claims = tokens.decode_access(
        pair.access_token, settings.jwt_access_secret, settings.jwt_issuer
    )
    assert claims.tenant_id == tenant.id
    cookie = tokens.encode_access(
        settings.jwt_access_secret,
        settings.jwt_issuer,
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        role=claims.role,
        session_id=claims.session_id,
        issued_at=datetime.now(UTC),
        ttl_s=settings.console_session_ttl_s,
        audience=tokens.CONSOLE_AUDIENCE,
    )
    set_cookie(response, settings, SESSION_COOKIE, cookie, settings.console_session_ttl_s)
    return claims


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
