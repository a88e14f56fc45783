"""Who is making a request: the authenticated user, as the policy layer sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web

from protocol.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
    email: str
    is_platform_operator: bool = False
    token_expires_at: int = 0
    locale: str | None = None


PRINCIPAL = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    """The request's principal; only call from a route that is not public."""
    found: Principal | None = request.get(PRINCIPAL)
    if found is None:
        raise RuntimeError("no principal: the route is public or auth did not run")
    return found
