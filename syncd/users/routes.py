"""Users of a tenant: invitations, listing, roles, activation, passwords.

    POST  /users/invite                users:manage   201 {user, invite[, invite_token]}
    POST  /auth/accept-invite          public         200 token pair
    GET   /users                       users:read     200 {items, next_cursor}
    GET   /users/{user_id}             users:read     200 user
    PATCH /users/{user_id}/role        users:manage   200 user
    POST  /users/{user_id}/deactivate  users:manage   200 user
    POST  /users/{user_id}/activate    users:manage   200 user
    POST  /users/me/password           authenticated  204

The rules live in syncd.users.service; these handlers parse, call, shape.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from syncd import appkeys
from syncd.auth.errors import InvalidCredentials, LoginThrottled, PasswordPolicy
from syncd.auth.permissions import Permission, public, requires
from syncd.auth.schemas import TokenPairRead
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.users.invites import Invitations, InviteInvalid
from syncd.users.schemas import (
    InviteAccept,
    InviteCreate,
    PasswordChange,
    RoleUpdate,
    UserInvited,
    UserListQuery,
    UserPage,
    UserPath,
    UserQuery,
    UserRead,
)
from syncd.users.service import (
    AllClosers,
    LastAdmin,
    SelfDeactivation,
    UserExists,
    UserFilter,
    UserInfo,
    UserNotFound,
    UserService,
)
from syncd.web.body import parse_body, path_uuid
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.pagination import page, page_params
from syncd.web.query import read_query
from syncd.web.tenant import current_tenant

routes = web.RouteTableDef()


def user_read(user: UserInfo) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role,
        "status": user.status,
        "locale": user.locale,
        "created_at": _iso(user.created_at),
        "updated_at": _iso(user.updated_at),
        "last_login_at": _iso(user.last_login_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def user_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "user_id",
        lambda raw: UserNotFound(Msg("no user {user_id} in this tenant", user_id=repr(raw))),
    )


def _service(request: web.Request) -> UserService:
    app = request.app
    return UserService(
        app[appkeys.SETTINGS],
        app[appkeys.SESSIONS],
        app[appkeys.AUTH],
        app[appkeys.MAILER],
        closer=AllClosers(app[appkeys.LIVE], app[appkeys.YJS]),
    )


def _invitations(request: web.Request) -> Invitations:
    app = request.app
    return Invitations(
        app[appkeys.SETTINGS], app[appkeys.SESSIONS], app[appkeys.AUTH], app[appkeys.MAILER]
    )


@routes.post("/users/invite")
@requires(Permission.USERS_MANAGE)
@describe(
    summary="Invite a user by email",
    body=InviteCreate,
    responses={201: UserInvited},
    problems=[UserExists],
)
async def invite_user(request: web.Request) -> web.Response:
    """Create a pending user and mail them a single-use invitation.

    Outside production the answer also carries the raw `invite_token`, so a
    developer can finish the flow without a mailbox.
    """
    body = await parse_body(request, InviteCreate)
    invited = await _invitations(request).invite(
        origin_of(request),
        principal(request),
        await current_tenant(request),
        email=str(body.email),
        role=body.role,
        display_name=body.display_name,
        locale=body.locale,
    )
    answer: dict[str, Any] = {
        "user": user_read(invited.user),
        "invite": {"id": str(invited.invite_id), "expires_at": _iso(invited.expires_at)},
    }
    if not request.app[appkeys.SETTINGS].is_production:
        answer["invite_token"] = invited.token
    return web.json_response(answer, status=201)


@routes.post("/auth/accept-invite")
@public
@describe(
    summary="Accept an invitation and sign in",
    body=InviteAccept,
    responses={200: TokenPairRead},
    problems=[InviteInvalid, PasswordPolicy],
    tenant=True,
    tags=["auth"],
)
async def accept_invite(request: web.Request) -> web.Response:
    """Accept an invitation: set the password, activate, and sign in (200, token pair).

    An unknown, used, revoked or expired token is one answer: 400 `invite_invalid`.
    The tenant is the one named by `X-Tenant` or the subdomain.
    """
    body = await parse_body(request, InviteAccept)
    pair = await _invitations(request).accept_invite(
        origin_of(request),
        await current_tenant(request),
        token=body.token,
        password=body.password,
        display_name=body.display_name,
    )
    return web.json_response(pair.as_json())


@routes.get("/users")
@requires(Permission.USERS_READ)
@describe(
    summary="List users", query=UserListQuery, responses={200: UserPage}, problems=[InvalidCursor]
)
async def list_users(request: web.Request) -> web.Response:
    """Users ordered by creation; filters `role`, `status`, `q` (email or name)."""
    query = read_query(request, UserQuery)
    cursor, limit = page_params(request)
    filters = UserFilter(role=query.role, status=query.status, q=query.q)
    users, next_cursor = await _service(request).list_users(
        principal(request).tenant_id, filters, cursor, limit
    )
    return web.json_response(page([user_read(u) for u in users], limit, next_cursor))


@routes.get("/users/{user_id}")
@requires(Permission.USERS_READ)
@describe(summary="Read a user", path=UserPath, responses={200: UserRead}, problems=[UserNotFound])
async def get_user(request: web.Request) -> web.Response:
    user = await _service(request).get_user(
        principal(request).tenant_id,
        user_id_of(request),
    )
    return web.json_response(user_read(user))


@routes.patch("/users/{user_id}/role")
@requires(Permission.USERS_MANAGE)
@describe(
    summary="Change a user's role",
    path=UserPath,
    body=RoleUpdate,
    responses={200: UserRead},
    problems=[UserNotFound, LastAdmin],
)
async def change_role(request: web.Request) -> web.Response:
    """Give a user another role; the tenant's last active admin keeps theirs (409)."""
    body = await parse_body(request, RoleUpdate)
    user = await _service(request).change_role(
        origin_of(request),
        principal(request),
        user_id_of(request),
        body.role,
    )
    return web.json_response(user_read(user))


@routes.post("/users/{user_id}/deactivate")
@requires(Permission.USERS_MANAGE)
@describe(
    summary="Deactivate a user",
    path=UserPath,
    responses={200: UserRead},
    problems=[UserNotFound, SelfDeactivation, LastAdmin],
)
async def deactivate_user(request: web.Request) -> web.Response:
    """Deactivate a user and end every session of theirs at once (not yourself: 409)."""
    user = await _service(request).deactivate(
        origin_of(request),
        principal(request),
        user_id_of(request),
    )
    return web.json_response(user_read(user))


@routes.post("/users/{user_id}/activate")
@requires(Permission.USERS_MANAGE)
@describe(
    summary="Reactivate a user", path=UserPath, responses={200: UserRead}, problems=[UserNotFound]
)
async def activate_user(request: web.Request) -> web.Response:
    user = await _service(request).activate(
        origin_of(request),
        principal(request),
        user_id_of(request),
    )
    return web.json_response(user_read(user))


@routes.post("/users/me/password")
@requires(Permission.AUTHENTICATED)
@describe(
    summary="Change your password",
    body=PasswordChange,
    responses={204: None},
    problems=[InvalidCredentials, LoginThrottled, PasswordPolicy],
)
async def change_password(request: web.Request) -> web.Response:
    """Change your password; your other sessions end, this one stays."""
    body = await parse_body(request, PasswordChange)
    await _service(request).change_password(
        origin_of(request), principal(request), body.current_password, body.new_password
    )
    return web.Response(status=204)
