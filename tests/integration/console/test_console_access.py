"""Every console route x every kind of caller, with cookies instead of bearer tokens.

The console's mirror of test_route_permissions.py: without a session (or with a
forged, expired or foreign one, or with only a bearer token) a page sends the
browser to sign in; with a session, a role that lacks the route's permission
gets 403 and one that holds it gets neither 401, 403 nor 500; a named tenant
other than the session's is refused.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.auth import tokens
from syncd.auth.permissions import Permission, credentials_of, permission_of, role_allows
from syncd.console.session import SESSION_COOKIE
from tests.support.console import Console
from tests.support.factories import Account, make_tenant, make_user, signed_in

PARAM = re.compile(r"\{[^}]+\}")
Sessions = async_sessionmaker[AsyncSession]


def console_routes(app: web.Application) -> list[tuple[str, str, Permission]]:
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        if credentials_of(route.handler) is None:
            continue
        permission = permission_of(route.handler)
        assert permission is not None
        found.append((route.method, route.resource.canonical, permission))
    return found


def concrete(path: str) -> str:
    return PARAM.sub(str(uuid.uuid4()), path)


async def call(console: Console, method: str, path: str, **headers: str) -> Any:
    url = concrete(path)
    if path.endswith("/events"):  # an event stream: read the status, not the endless body
        response = await console.client.get(
            url, headers=console._headers(headers), allow_redirects=False
        )
        response.close()
        return response
    if method == "GET":
        return (await console.get(url, headers))[0]
    return (await console.post(url, {"user_id": str(uuid.uuid4()), "resolution": "keep_server"}))[0]


def forged_cookies(settings: Any, account: Account) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {
        "sub": str(account.user_id),
        "tid": str(account.tenant.id),
        "role": "admin",
        "sid": str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": str(uuid.uuid4()),
        "iss": settings.jwt_issuer,
        "aud": tokens.CONSOLE_AUDIENCE,
    }
    return {
        "unknown session": jwt.encode(claims, settings.jwt_access_secret, algorithm="HS256"),
        "bad signature": jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256"),
        "expired": jwt.encode(
            {**claims, "exp": int((now - timedelta(hours=1)).timestamp())},
            settings.jwt_access_secret,
            algorithm="HS256",
        ),
        "an API access token": account.access_token,
    }


async def test_every_console_route_refuses_what_it_should(
    client: Any, app: web.Application, sessions: Sessions, settings: Any
) -> None:
    tenant = await make_tenant(sessions)
    other = await make_tenant(sessions)
    routes = console_routes(app)
    assert len(routes) > 15
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    failures: list[str] = []

    def expect(ok: bool, what: str, response: Any) -> None:
        if not ok:
            failures.append(f"{what}: {response.status} {response.headers.get('Location')}")

    def to_sign_in(response: Any) -> bool:
        return response.status == 303 and response.headers["Location"].startswith("/console/login")

    stranger = Console(client)
    await stranger.get("/console/login")
    forged = forged_cookies(settings, admin)
    for method, path, _permission in routes:
        where = f"{method} {path}"
        response = await call(stranger, method, path)
        expect(to_sign_in(response), f"{where} signed out", response)
        bearer = Console(client)
        bearer.token = stranger.token
        bearer.cookies = dict(stranger.cookies)
        response = await call(bearer, method, path, Authorization=f"Bearer {admin.access_token}")
        expect(to_sign_in(response), f"{where} with a bearer token only", response)
        for name, value in forged.items():
            fake = Console(client)
            fake.token, fake.cookies = stranger.token, {**stranger.cookies, SESSION_COOKIE: value}
            response = await call(fake, method, path)
            expect(to_sign_in(response), f"{where} with {name}", response)

    for role in Role:
        account = await make_user(sessions, tenant, role)
        for method, path, permission in routes:
            where = f"{method} {path} as {role}"
            console = Console(client)
            await console.sign_in(account)  # a fresh session: the route may end it (logout)
            await console.get("/console/login")  # a page, for the form's token
            response = await call(console, method, path)
            if role_allows(role, permission):
                ended = path == "/console/logout"  # its answer is the sign-in page, rightly
                bad = response.status in (401, 403, 500) or (to_sign_in(response) and not ended)
                expect(not bad, where, response)
            else:
                expect(response.status == 403, where, response)
            if method == "GET" and not path.endswith("/events"):
                named = await call(console, method, path, **{"X-Tenant": other.slug})
                expect(named.status == 403, f"{where} naming another tenant", named)
    assert failures == []
