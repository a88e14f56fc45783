"""Permissions, which role holds which, and how a route declares its own.

Every route handler carries exactly one permission, set with `@requires(...)`
or `@public`; the auth middleware enforces it, `syncd routes` prints it, and a
test fails for any route that has none. Object-level rules (a technician sees
only tasks assigned to them) live in the services, on top of these.

A route may also declare where its caller's credentials are (`@credentials`):
by default a bearer access token; the admin console's pages read their session
cookie instead (syncd/console/session.py). Either way the policy middleware
checks the same session, user and permission.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from protocol.roles import Role

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__syncd_permission__"
_CREDENTIALS = "__syncd_credentials__"


class Permission(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    TENANT_READ = "tenant:read"
    TENANT_MANAGE = "tenant:manage"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    TASKS_READ = "tasks:read"
    TASKS_WORK = "tasks:work"
    TASKS_MANAGE = "tasks:manage"
    FINANCE_MANAGE = "finance:manage"
    CONFLICTS_MANAGE = "conflicts:manage"
    SYNC = "sync"
    JOBS_MANAGE = "jobs:manage"
    API_DOCS = "api:docs"  # /docs and /openapi.json in production
    PLATFORM = "platform"


_EVERYONE = {Permission.AUTHENTICATED, Permission.TENANT_READ, Permission.SYNC}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TECHNICIAN: frozenset(_EVERYONE | {Permission.TASKS_READ, Permission.TASKS_WORK}),
    Role.STAFF: frozenset(
        _EVERYONE
        | {
            Permission.USERS_READ,
            Permission.TASKS_READ,
            Permission.TASKS_WORK,
            Permission.TASKS_MANAGE,
            Permission.FINANCE_MANAGE,
        }
    ),
    Role.ADMIN: frozenset(set(Permission) - {Permission.PLATFORM, Permission.PUBLIC}),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def requires(permission: Permission) -> Callable[[F], F]:
    """Declare the permission a route handler needs."""

    def mark(handler: F) -> F:
        setattr(handler, _ATTRIBUTE, permission)
        return handler

    return mark


def public(handler: F) -> F:
    """Declare a route open to anyone (health, login, token refresh)."""
    return requires(Permission.PUBLIC)(handler)


def permission_of(handler: Callable[..., Any]) -> Permission | None:
    found: Permission | None = getattr(handler, _ATTRIBUTE, None)
    return found


def credentials(reader: Callable[..., Any]) -> Callable[[F], F]:
    """Declare how a route's caller is identified: `reader(request)` answers the
    access claims (or raises an Unauthorized problem). Without it: a bearer token."""

    def mark(handler: F) -> F:
        setattr(handler, _CREDENTIALS, reader)
        return handler

    return mark


def credentials_of(handler: Callable[..., Any]) -> Callable[..., Any] | None:
    found: Callable[..., Any] | None = getattr(handler, _CREDENTIALS, None)
    return found
