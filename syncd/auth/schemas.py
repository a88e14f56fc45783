"""The shapes of the auth routes: what sign-in, refresh and registration send, what they answer.

The answer shapes are for the OpenAPI document (handlers shape their own JSON).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, EmailStr, Field

from protocol.roles import Role
from syncd.tenants.founding import SLUG_PATTERN
from syncd.tenants.schemas import AccountRead
from syncd.web.body import Body, NewPassword, Password


class TokenPairRead(BaseModel):
    """A signed-in session: a short-lived access token and a rotating refresh token."""

    access_token: str = Field(description="send as `Authorization: Bearer <access_token>`")
    refresh_token: str = Field(description="single use: POST /auth/refresh answers a new pair")
    token_type: str = Field(description="always `Bearer`")
    expires_in: int = Field(description="seconds until the access token expires")


class TenantBrief(BaseModel):
    id: uuid.UUID
    slug: str
    name: str


class MeRead(BaseModel):
    """The signed-in user, their tenant and session."""

    user_id: uuid.UUID
    email: str
    role: Role
    tenant: TenantBrief
    is_platform_operator: bool
    session_id: uuid.UUID


class Registered(BaseModel):
    """The new tenant and its first admin (sign in next)."""

    tenant: TenantBrief
    user: AccountRead


class LoginBody(Body):
    email: str = Field(min_length=3, max_length=254)
    password: Password = Field(min_length=1)
    client_id: str | None = Field(None, min_length=1, max_length=100)


class RefreshBody(Body):
    refresh_token: str = Field(min_length=10, max_length=4096)


class RegisterBody(Body):
    tenant_slug: str = Field(pattern=SLUG_PATTERN)
    tenant_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    password: NewPassword
    display_name: str = Field("", max_length=200)
