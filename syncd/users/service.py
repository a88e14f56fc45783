"""Users of a tenant: list, read, roles, activation, passwords (invitations: `invites.py`).

The use cases behind the user routes (syncd/users/routes.py). Each opens one
tenant unit of work, checks before it mutates, writes its audit entry in the
same transaction and commits;
effects outside the database (sending mail, closing live connections) happen
only after the commit.

Rules kept here:

- a tenant always keeps one active admin (`last_admin`);
- nobody deactivates themself; deactivation revokes every refresh token of the
  user, which ends their access tokens at once (the auth middleware checks the
  session), and closes their live connections through a `SessionCloser`;
- a password change revokes every other session of the user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import User
from storage.unit_of_work import TenantUnitOfWork
from syncd import mail
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.errors import InvalidCredentials, LoginThrottled, PasswordPolicy
from syncd.auth.principal import Principal
from syncd.auth.service import AuthService
from syncd.i18n import Msg
from syncd.passwords import PasswordPolicyError, check_policy
from syncd.settings import Settings
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict, NotFound

ACTIVE, INACTIVE, PENDING = "active", "inactive", "pending"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class UserExists(Conflict):
    code = "user_exists"
    title = "A user with this email exists"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The tenant must keep an active admin"


class SelfDeactivation(Conflict):
    code = "self_deactivation"
    title = "You cannot deactivate yourself"


class SessionCloser(Protocol):
    """Closes a user's live connections (WebSocket, Yjs) when their sessions end.

    The WebSocket issue plugs its implementation in (kept under an AppKey of
    its own and handed to `UserService(closer=...)` by syncd/users/routes.py);
    until then the default `NoSessionCloser` has nothing to close.
    """

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        """Close every live connection of the user; answer how many were closed."""
        ...


class AllClosers:
    """Several closers as one (live sync sockets and Yjs editing sockets)."""

    def __init__(self, *closers: SessionCloser) -> None:
        self.closers = closers

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        return sum([await closer.close_user(tenant_id, user_id) for closer in self.closers])


class NoSessionCloser:
    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the service answers it: a plain snapshot, usable after the session."""

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    status: str
    locale: str | None
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: User) -> UserInfo:
        return cls(**{field.name: getattr(row, field.name) for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class UserFilter:
    role: Role | None = None
    status: str | None = None
    q: str | None = None


class UserService:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        auth: AuthService,
        mailer: mail.Mailer | None = None,
        closer: SessionCloser | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.auth = auth
        self.mailer = mailer
        self.closer: SessionCloser = closer or NoSessionCloser()

    def _uow(self, tenant_id: uuid.UUID) -> TenantUnitOfWork:
        return TenantUnitOfWork(self.sessions, tenant_id)

    # --- reading -----------------------------------------------------------------

    async def list_users(
        self, tenant_id: uuid.UUID, filters: UserFilter, cursor: str | None, limit: int
    ) -> tuple[list[UserInfo], str | None]:
        """One page of users ordered by (created_at, id), and the next page's cursor."""
        statement = select(User).order_by(User.created_at, User.id).limit(limit + 1)
        if filters.role is not None:
            statement = statement.where(User.role == filters.role.value)
        if filters.status is not None:
            statement = statement.where(User.status == filters.status)
        if filters.q:
            needle = filters.q.lower()
            statement = statement.where(
                or_(
                    func.lower(User.email).contains(needle, autoescape=True),
                    func.lower(User.display_name).contains(needle, autoescape=True),
                )
            )
        if cursor is not None:
            created_at, user_id = _after(cursor)
            statement = statement.where(
                or_(
                    User.created_at > created_at,
                    and_(User.created_at == created_at, User.id > user_id),
                )
            )
        async with self._uow(tenant_id) as uow:
            rows = [UserInfo.of(row) for row in (await uow.session.execute(statement)).scalars()]
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], encode_cursor(last.created_at.isoformat(), last.id)

    async def get_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> UserInfo:
        async with self._uow(tenant_id) as uow:
            return UserInfo.of(await _user(uow.session, tenant_id, user_id))

    # --- changing ----------------------------------------------------------------

    async def change_role(
        self, origin: Origin, who: Principal, user_id: uuid.UUID, role: Role
    ) -> UserInfo:
        async with self._uow(who.tenant_id) as uow:
            session = uow.session
            user = await _user(session, who.tenant_id, user_id)
            old = user.role
            if old == role.value:
                return UserInfo.of(user)
            if old == Role.ADMIN.value and user.status == ACTIVE:
                await _keep_an_admin(session, user.id)
            user.role = role.value
            audit_user(
                session,
                origin,
                "role_changed",
                who.user_id,
                user.id,
                {"old": old, "new": role.value},
            )
            await uow.commit()
        return UserInfo.of(user)

    async def deactivate(self, origin: Origin, who: Principal, user_id: uuid.UUID) -> UserInfo:
        """Deactivate a user, end all their sessions and close their live connections."""
        if user_id == who.user_id:
            raise SelfDeactivation("ask another admin to deactivate your account")
        async with self._uow(who.tenant_id) as uow:
            session = uow.session
            user = await _user(session, who.tenant_id, user_id)
            if user.status == INACTIVE:
                return UserInfo.of(user)
            if user.role == Role.ADMIN.value and user.status == ACTIVE:
                await _keep_an_admin(session, user.id)
            previous, user.status = user.status, INACTIVE
            await AuthService.revoke_user_sessions(session, user.id)
            audit_user(
                session,
                origin,
                "user_deactivated",
                who.user_id,
                user.id,
                {"previous_status": previous},
            )
            await uow.commit()
        await self.closer.close_user(who.tenant_id, user.id)
        return UserInfo.of(user)

    async def activate(self, origin: Origin, who: Principal, user_id: uuid.UUID) -> UserInfo:
        """Undo a deactivation: active again, or pending if they never set a password."""
        async with self._uow(who.tenant_id) as uow:
            session = uow.session
            user = await _user(session, who.tenant_id, user_id)
            if user.status != INACTIVE:
                return UserInfo.of(user)
            user.status = ACTIVE if user.password_hash else PENDING
            audit_user(
                session, origin, "user_activated", who.user_id, user.id, {"status": user.status}
            )
            await uow.commit()
        return UserInfo.of(user)

    async def change_password(self, origin: Origin, who: Principal, current: str, new: str) -> None:
        """Check the current password, set the new one, end the user's other sessions."""
        throttle_key = f"password:{who.tenant_id}:{who.user_id}"
        hits, retry_after = await self.auth.limiter.count(throttle_key)
        if hits >= self.settings.login_rate_limit:
            raise LoginThrottled(
                Msg("too many wrong passwords; retry in {seconds} s", seconds=retry_after),
                headers={"Retry-After": str(retry_after)},
                extra={"retry_after": retry_after},
            )
        async with self._uow(who.tenant_id) as uow:
            stored = (await _user(uow.session, who.tenant_id, who.user_id)).password_hash
        if not await self.auth.verify(current, stored):
            await self.auth.limiter.hit(throttle_key)
            raise InvalidCredentials(Msg("the current password is wrong"))
        if new == current:
            raise _policy_problem(Msg("must differ from the current password"))
        new_hash = await self.auth.hash(_checked_new_password(new))
        async with self._uow(who.tenant_id) as uow:
            session = uow.session
            user = await _user(session, who.tenant_id, who.user_id, lock=True)
            if user.password_hash != stored:
                raise InvalidCredentials(Msg("the password changed meanwhile; try again"))
            user.password_hash = new_hash
            await AuthService.revoke_user_sessions(session, user.id, keep_family=who.session_id)
            audit_user(
                session,
                origin,
                "password_changed",
                who.user_id,
                user.id,
                {"kept_session": str(who.session_id)},
            )
            await uow.commit()
        await self.auth.limiter.reset(throttle_key)


async def _user(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
) -> User:
    user = await session.get(User, (tenant_id, user_id), with_for_update=lock or None)
    if user is None:
        raise UserNotFound(Msg("no user {user_id} in this tenant", user_id=user_id))
    return user


async def _keep_an_admin(session: AsyncSession, leaving: uuid.UUID) -> None:
    """Refuse if `leaving` is the tenant's last active admin (the admin rows stay locked)."""
    admins = await session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN.value, User.status == ACTIVE)
        .order_by(User.id)
        .with_for_update()
    )
    if not set(admins) - {leaving}:
        raise LastAdmin(Msg("the tenant would have no active admin left; promote another first"))


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    created_at, user_id = decode_cursor(cursor, 2)
    try:
        moment, after_id = datetime.fromisoformat(str(created_at)), uuid.UUID(str(user_id))
    except ValueError:
        raise InvalidCursor("the cursor was not made by this server") from None
    if moment.tzinfo is None:
        raise InvalidCursor("the cursor was not made by this server")
    return moment, after_id


def _policy_problem(rule: Msg) -> PasswordPolicy:
    return PasswordPolicy(
        Msg("the new password {rule}", rule=rule),
        errors=[{"field": "new_password", "code": "password_policy", "message": rule}],
    )


def _checked_new_password(password: str) -> str:
    try:
        check_policy(password)
    except PasswordPolicyError as exc:
        raise _policy_problem(exc.rule) from None
    return password


def audit_user(
    session: AsyncSession,
    origin: Origin,
    action: str,
    actor_id: uuid.UUID,
    user_id: uuid.UUID,
    details: dict[str, Any],
) -> None:
    audit.record(
        session,
        action,
        origin=origin,
        actor_id=actor_id,
        target_type="user",
        target_id=user_id,
        details=details,
    )
