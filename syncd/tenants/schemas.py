"""The shapes of the tenant routes: what a change may send, what an answer holds.

The answer shapes are documentation models: the handlers shape their own JSON
(`tenant_read`) and these say what that JSON is; the schemathesis run
(tests/e2e/web/test_schemathesis.py) checks live answers against them.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field

from protocol.roles import Role
from syncd.tenants.founding import SLUG_PATTERN
from syncd.web.body import Body
from syncd.web.pagination import PageQuery
from syncd.web.patch import Patch


def _known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{value!r} is not an IANA time zone such as 'Asia/Riyadh'") from None
    return value


Locale = Literal["en", "ar"]
TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
        description="an IANA time zone, such as `Asia/Riyadh` or `UTC`",
    ),
    AfterValidator(_known_zone),
]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$"), AfterValidator(str.lower)]


class BrandingUpdate(Patch):
    NULLABLE = frozenset({"primary_color", "secondary_color"})

    primary_color: Color | None = None
    secondary_color: Color | None = None


class TenantSettingsUpdate(Patch):
    name: str | None = Field(None, min_length=1, max_length=200)
    locale: Locale | None = None
    time_zone: TimeZone | None = None


class TenantUpdate(TenantSettingsUpdate):
    branding: BrandingUpdate | None = None


class PlatformTenantUpdate(TenantSettingsUpdate):
    is_active: bool | None = None


class FirstAdmin(Body):
    email: EmailStr
    password: str = Field(max_length=1024)
    display_name: str = Field("", max_length=200)


class TenantCreate(Body):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    locale: Locale = "en"
    time_zone: TimeZone = "UTC"
    admin: FirstAdmin | None = None


# --- answers --------------------------------------------------------------------


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
