"""The shapes of the user routes: what a request may send, what an answer holds.

The answer shapes are documentation models: the handlers shape their own JSON
(`user_read`) and these say what that JSON is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from protocol.roles import Role
from syncd.tenants.schemas import Locale
from syncd.web.body import Body, NewPassword, Password
from syncd.web.pagination import PageQuery

Status = Literal["active", "inactive", "pending"]


class InviteCreate(Body):
    email: EmailStr
    role: Role
    display_name: str = Field("", max_length=200)
    locale: Locale | None = None


class InviteAccept(Body):
    token: str = Field(min_length=10, max_length=200)
    password: NewPassword
    display_name: str | None = Field(None, min_length=1, max_length=200)


class UserQuery(BaseModel):
    """The list filters (other query parameters, such as cursor and limit, pass)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    role: Role | None = None
    status: Status | None = None
    q: str | None = Field(None, max_length=200)


class UserListQuery(UserQuery, PageQuery):
    """The list's query string, for the document."""


class RoleUpdate(Body):
    role: Role


class PasswordChange(Body):
    current_password: Password = Field(min_length=1)
    new_password: NewPassword


# --- answers --------------------------------------------------------------------


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
