"""Every route of the app x every kind of caller: the expected refusal, never 200 or 500.

Routes come from the app's own route table, so a route added later is covered
the moment it exists, and a route that declares no permission fails here. The
admin console's pages take a session cookie, not a bearer token: the same matrix
for them, with cookies, is in tests/integration/console/test_console_access.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.auth.permissions import Permission, credentials_of, permission_of, role_allows
from tests.support.factories import forged_tokens, login, make_tenant, signed_in

PARAM = re.compile(r"\{[^}]+\}")


def app_routes(app: web.Application) -> list[tuple[str, str, Permission | None]]:
    found = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        path = route.resource.canonical
        if path.startswith("/docs/static"):
            continue
        found.append((route.method, path, permission_of(route.handler)))
    return found


def bearer_routes(app: web.Application) -> list[tuple[str, str, Permission | None]]:
    """The routes whose callers show a bearer token (all but the console's pages)."""
    cookie_paths = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and credentials_of(route.handler) is not None
    }
    return [row for row in app_routes(app) if row[:2] not in cookie_paths]


def concrete(path: str) -> str:
    return PARAM.sub(str(uuid.uuid4()), path)


async def call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return await client.request(method, concrete(path), **kwargs)


def test_every_route_declares_a_permission(app: web.Application) -> None:
    undeclared = [(m, p) for m, p, perm in app_routes(app) if perm is None]
    assert undeclared == []


async def test_every_protected_route_refuses_what_it_should(
    client: Any, app: web.Application, sessions: async_sessionmaker[AsyncSession], settings: Any
) -> None:
    tenant = await make_tenant(sessions)
    accounts = {role: await signed_in(client, sessions, role, tenant) for role in Role}
    stranger = await signed_in(client, sessions, Role.ADMIN)
    forged = forged_tokens(settings, accounts[Role.ADMIN])
    protected = [(m, p, perm) for m, p, perm in bearer_routes(app) if perm is not Permission.PUBLIC]
    assert protected, "no protected routes found"
    failures: list[str] = []

    def expect(ok: bool, what: str, response: Any) -> None:
        if not ok:
            failures.append(f"{what}: {response.status}")

    for method, path, permission in protected:
        assert permission is not None
        where = f"{method} {path}"
        response = await call(client, method, path, {"X-Tenant": tenant.slug})
        expect(response.status == 401, f"{where} without token", response)
        for name, token in forged.items():
            response = await call(
                client, method, path, {"Authorization": f"Bearer {token}", "X-Tenant": tenant.slug}
            )
            expect(response.status == 401, f"{where} with {name} token", response)
        response = await call(
            client,
            method,
            path,
            {"Authorization": f"Bearer {stranger.access_token}", "X-Tenant": tenant.slug},
        )
        expect(response.status == 403, f"{where} with another tenant's token", response)
        for role, account in accounts.items():
            await login(client, account)  # a fresh session: the route may end it (logout)
            response = await call(client, method, path, account.headers)
            allowed = permission is not Permission.PLATFORM and role_allows(role, permission)
            if allowed:
                expect(response.status not in (401, 403, 500), f"{where} as {role}", response)
            else:
                expect(response.status == 403, f"{where} as {role}", response)
    assert failures == []
