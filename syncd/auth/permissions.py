"""Permissions, which role holds which, and how a route declares its own.

Every route handler carries exactly one permission, set with `@requires(...)`
or `@public`; the auth middleware enforces it, `syncd routes` prints it, and a
test fails for any route that has none. Object-level rules (a technician sees
only tasks assigned to them) live in the services, on top of these.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from protocol.roles import Role

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__syncd_permission__"


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
