"""Who is who, for pages that show people and devices by name rather than by id.

Read through the same services as `GET /users` and `GET /sync/devices`. The
lists are bounded: the first `MAX_PEOPLE` users of the tenant (an id beyond
them is shown as the id).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from protocol.roles import Role
from syncd import appkeys
from syncd.auth.principal import Principal
from syncd.users.service import UserFilter, UserInfo, UserService

MAX_PEOPLE = 200


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    email: str
    name: str
    role: str

    @property
    def short(self) -> str:
        return self.name or self.email

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def users(request: web.Request) -> UserService:
    app = request.app
    return UserService(app[appkeys.SETTINGS], app[appkeys.SESSIONS], app[appkeys.AUTH])


def _person(user: UserInfo) -> Person:
    return Person(str(user.id), user.email, user.display_name, user.role)


async def people(
    request: web.Request, who: Principal, role: Role | None = None, active_only: bool = False
) -> dict[str, Person]:
    """The tenant's users by id (the first MAX_PEOPLE), optionally of one role."""
    found, _ = await users(request).list_users(
        who.tenant_id,
        UserFilter(role=role, status="active" if active_only else None),
        None,
        MAX_PEOPLE,
    )
    return {str(user.id): _person(user) for user in found}


async def device_owners(request: web.Request, who: Principal) -> dict[str, str]:
    """Each device's owner's email, by client id."""
    devices = await request.app[appkeys.SYNC_ADMIN].devices(who)
    return {item["client_id"]: item["email"] for item in devices["items"]}
