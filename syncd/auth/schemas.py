"""Answer shapes of the auth routes, for the OpenAPI document (handlers shape their own JSON)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from protocol.roles import Role
from syncd.tenants.schemas import AccountRead


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
