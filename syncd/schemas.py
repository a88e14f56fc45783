"""Answer shapes of health, tenants, users and the audit log, for the OpenAPI document.

Documentation models: the handlers shape their own JSON (tenants.tenant_read,
users.user_read, ...) and these say what that JSON is; the schemathesis run
(tests/e2e/test_schemathesis.py) checks live answers against them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.roles import Role
from syncd.web.pagination import DEFAULT_LIMIT, MAX_LIMIT

Locale = Literal["en", "ar"]


class PageQuery(BaseModel):
    """Cursor pagination of a list (syncd.web.pagination)."""

    model_config = ConfigDict(extra="ignore")

    cursor: str | None = Field(None, description="`next_cursor` of the previous page")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page")


# --- health -------------------------------------------------------------------------


class LiveRead(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadyRead(BaseModel):
    """Every dependency answered."""

    status: Literal["ok"]
    checks: dict[str, Literal["ok"]] = Field(description="`database`, and `redis` if used")


# --- tenants --------------------------------------------------------------------------


class TenantPath(BaseModel):
    tenant_id: uuid.UUID


class TenantListQuery(PageQuery):
    active: Literal["true", "false"] | None = Field(None, description="only active or inactive")
    q: str | None = Field(None, max_length=200, description="part of the slug or name")


class BrandingRead(BaseModel):
    primary_color: str = Field(description="`#rrggbb`")
    secondary_color: str = Field(description="`#rrggbb`")
    logo_url: str | None = Field(description="`/tenant/logo?v=<id>`, or null without a logo")


class TenantRead(BaseModel):
    """The tenant as its own users see it (with an `ETag` header)."""

    id: uuid.UUID
    slug: str
    name: str
    locale: Locale
    time_zone: str = Field(description="IANA time zone, e.g. `Asia/Riyadh`")
    branding: BrandingRead
    updated_at: datetime


class PlatformTenantRead(TenantRead):
    """A tenant as the platform operator sees it (with an `ETag` header)."""

    is_active: bool
    is_system: bool
    created_at: datetime


class AccountRead(BaseModel):
    id: uuid.UUID
    email: str
    role: Role


class TenantCreated(PlatformTenantRead):
    """The new tenant and its first admin, if one was given (`Location` header)."""

    admin: AccountRead | None


class PlatformTenantPage(BaseModel):
    """One page of tenants."""

    items: list[PlatformTenantRead]
    next_cursor: str | None


# --- users ----------------------------------------------------------------------------


class UserPath(BaseModel):
    user_id: uuid.UUID


class UserRead(BaseModel):
    """A user of the tenant."""

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    status: Literal["active", "inactive", "pending"]
    locale: Locale | None
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    """One page of users, ordered by creation."""

    items: list[UserRead]
    next_cursor: str | None


class InviteRead(BaseModel):
    id: uuid.UUID
    expires_at: datetime


class UserInvited(BaseModel):
    """The pending user and the invitation mailed to them."""

    user: UserRead
    invite: InviteRead
    invite_token: str | None = Field(
        None, description="outside production only: the raw token, to finish without a mailbox"
    )
