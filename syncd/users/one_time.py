"""One-time links (an invitation, a password reset): the row behind a token and its user.

Both keep only the token's hash, expire, can be revoked and are spent once; they
differ in the column that marks them spent and the status their user must have.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PasswordReset, User, UserInvite
from storage.types import utcnow
from syncd.auth.tokens import token_hash

Link = TypeVar("Link", UserInvite, PasswordReset)


async def usable_link(
    session: AsyncSession,
    model: type[Link],
    tenant_id: uuid.UUID,
    token: str,
    *,
    spent: str,
    user_status: str,
    lock: bool = False,
) -> tuple[Link, User] | None:
    """The link of `model` behind `token` in this tenant and its user, or None when
    it is unknown, spent (its `spent` column set), revoked or expired, or its user's
    status is not `user_status`. With `lock`, both rows are locked for update."""
    statement: Any = select(model).where(
        model.tenant_id == tenant_id, model.token_hash == token_hash(token)
    )
    if lock:
        statement = statement.with_for_update()
    link = (await session.execute(statement)).scalar_one_or_none()
    if link is None:
        return None
    user = await session.get(User, (tenant_id, link.user_id), with_for_update=lock or None)
    if (
        user is None
        or getattr(link, spent) is not None
        or link.revoked_at is not None
        or link.expires_at <= utcnow()
        or user.status != user_status
    ):
        return None
    return link, user
