"""Password recovery routes: forgot, reset, and an admin sending a reset.

    POST /auth/forgot-password            public        202 (the same for any email)
    POST /auth/reset-password             public        204
    POST /users/{user_id}/password-reset  users:manage  202 {user_id, reset}

The rules live in syncd.users.recovery; these handlers parse, call, shape.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from syncd import appkeys
from syncd.auth.errors import PasswordPolicy
from syncd.auth.permissions import Permission, public, requires
from syncd.openapi import describe
from syncd.users.recovery import PasswordResets, ResetInvalid, ResetThrottled
from syncd.users.routes import user_id_of
from syncd.users.schemas import UserPath
from syncd.users.service import AllClosers, UserNotFound
from syncd.web.body import Body, Password, parse_body
from syncd.web.client_ip import request_ip
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.tenant import current_tenant

routes = web.RouteTableDef()


class ForgotPassword(Body):
    email: str = Field(min_length=3, max_length=254)


class ResetPassword(Body):
    token: str = Field(min_length=10, max_length=200)
    password: Password


class ResetRequested(BaseModel):
    """Always the same answer: whether a mail went out is not told."""

    accepted: bool = Field(description="always `true`")
    expires_in: int = Field(description="seconds a mailed reset link stays valid")


class ResetRead(BaseModel):
    id: str
    expires_at: str


class ResetSentRead(BaseModel):
    """The reset mailed to the user."""

    user_id: str
    reset: ResetRead
    reset_token: str | None = Field(
        None, description="outside production only: the raw token, to finish without a mailbox"
    )


def _resets(request: web.Request) -> PasswordResets:
    app = request.app
    return PasswordResets(
        app[appkeys.SETTINGS],
        app[appkeys.SESSIONS],
        app[appkeys.AUTH],
        app[appkeys.MAILER],
        closer=AllClosers(app[appkeys.LIVE], app[appkeys.YJS]),
    )


@routes.post("/auth/forgot-password")
@public
@describe(
    summary="Ask for a password reset mail",
    body=ForgotPassword,
    responses={202: ResetRequested},
    problems=[ResetThrottled],
    tenant=True,
    tags=["auth"],
)
async def forgot_password(request: web.Request) -> web.Response:
    """Mail a single-use reset link if the email is an active user of the tenant.

    The answer is the same whether it is or not (202), so it tells nobody which
    emails have accounts. Throttled per account and per client address (429
    `reset_throttled` with `Retry-After`).
    """
    body = await parse_body(request, ForgotPassword)
    await _resets(request).request_reset(
        origin_of(request), await current_tenant(request), body.email, request_ip(request)
    )
    ttl = request.app[appkeys.SETTINGS].password_reset_ttl_s
    return web.json_response({"accepted": True, "expires_in": ttl}, status=202)


@routes.post("/auth/reset-password")
@public
@describe(
    summary="Choose a new password with a reset token",
    body=ResetPassword,
    responses={204: None},
    problems=[ResetInvalid, PasswordPolicy],
    tenant=True,
    tags=["auth"],
)
async def reset_password(request: web.Request) -> web.Response:
    """Set a new password with the mailed token; every session of the user ends.

    An unknown, used, replaced or expired token (or another tenant's) is one
    answer: 400 `reset_invalid`. Sign in afterwards with the new password.
    """
    body = await parse_body(request, ResetPassword)
    await _resets(request).reset_password(
        origin_of(request), await current_tenant(request), body.token, body.password
    )
    return web.Response(status=204)


@routes.post("/users/{user_id}/password-reset")
@requires(Permission.USERS_MANAGE)
@describe(
    summary="Send a user a password reset mail",
    path=UserPath,
    responses={202: ResetSentRead},
    problems=[UserNotFound],
    tags=["users"],
)
async def send_password_reset(request: web.Request) -> web.Response:
    """Mail an active user of the tenant a single-use reset link (their password stays
    until they use it). Outside production the answer also carries `reset_token`."""
    who = principal(request)
    sent = await _resets(request).send_reset(
        origin_of(request),
        await current_tenant(request),
        user_id=user_id_of(request),
        actor_id=who.user_id,
    )
    answer: dict[str, Any] = {
        "user_id": str(sent.user_id),
        "reset": {"id": str(sent.reset_id), "expires_at": sent.expires_at.isoformat()},
    }
    if not request.app[appkeys.SETTINGS].is_production:
        answer["reset_token"] = sent.token
    return web.json_response(answer, status=202)
