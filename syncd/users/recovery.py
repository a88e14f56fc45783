"""Password recovery: ask for a reset, send one (admin, operator), use it.

- `request_reset` (POST /auth/forgot-password) answers the same whether the
  email belongs to an active user of the tenant or not -- the caller learns
  nothing, not even by timing: the lookup and the mail run after the answer,
  as the mailer's deferred work -- and is throttled per account (tenant + email, known or not:
  PASSWORD_RESET_RATE_LIMIT) and per client address (LOGIN_IP_RATE_LIMIT),
  in the login throttle's window.
- `send_reset` is the same mail sent for a user by an admin of the tenant
  (POST /users/{id}/password-reset) or an operator (`syncd reset-password`).
- A reset token is 32 random bytes (URL-safe), mailed through the outbox in
  the user's language (else the tenant's) and stored only as its SHA-256; it
  is single use and expires after PASSWORD_RESET_TTL_SECONDS. A new reset
  revokes the user's earlier unused ones.
- `reset_password` (POST /auth/reset-password) checks the token in the named
  tenant before the slow hash, sets the new password under the policy, spends
  the token, revokes every refresh-token family of the user (so every session
  ends, access tokens included: the auth layer checks the session) and closes
  their live connections, clears the account's login throttle and audits it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import PasswordReset, Tenant, User
from storage.types import utcnow
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd import mail
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.errors import checked_password
from syncd.auth.service import AuthService
from syncd.auth.tokens import token_hash
from syncd.i18n import Msg
from syncd.settings import Settings
from syncd.tenancy import TenantRef
from syncd.users.one_time import usable_link
from syncd.users.service import NoSessionCloser, SessionCloser, UserNotFound
from syncd.web.problems import BadRequest, TooManyRequests

ACTIVE = "active"


class ResetInvalid(BadRequest):
    code = "reset_invalid"
    title = "The password reset cannot be used"


class ResetThrottled(TooManyRequests):
    code = "reset_throttled"
    title = "Too many password reset requests; try again later"


@dataclass(frozen=True, slots=True)
class ResetSent:
    """A reset mailed to `email`; `token` is for the operator's CLI only."""

    reset_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    expires_at: datetime
    token: str


class PasswordResets:
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

    # --- asking --------------------------------------------------------------------

    async def request_reset(
        self, origin: Origin, tenant: TenantRef, email: str, client_ip: str
    ) -> None:
        """Mail a reset if `email` is an active user of `tenant`; the same either way."""
        email = email.strip().lower()
        keys = (
            (f"reset:acct:{tenant.id}:{email}", self.settings.password_reset_rate_limit),
            (f"reset:ip:{client_ip}", self.settings.login_ip_rate_limit),
        )
        for key, limit in keys:
            hits, retry_after = await self.auth.limiter.count(key)
            if hits >= limit:
                raise ResetThrottled(
                    Msg(
                        "too many password reset requests; retry in {seconds} s",
                        seconds=retry_after,
                    ),
                    headers={"Retry-After": str(retry_after)},
                    extra={"retry_after": retry_after},
                )
        for key, _ in keys:
            await self.auth.limiter.hit(key)
        if self.mailer is None:  # no owner of background work (the CLI): inline
            await self._queue_reset(origin, tenant, email)
        else:
            # The answer leaves before the email is looked up: known or not, the
            # caller waits for the same work (the throttle), so timing tells nothing.
            self.mailer.defer(
                lambda: self._queue_reset(origin, tenant, email), "password-reset-request"
            )

    async def _queue_reset(self, origin: Origin, tenant: TenantRef, email: str) -> None:
        """Queue a reset mail if `email` is an active user of `tenant`; audit either way."""
        async with TenantUnitOfWork(self.sessions, tenant.id) as uow:
            user = await uow.session.scalar(
                select(User).where(User.tenant_id == tenant.id, User.email == email)
            )
            if user is None or user.status != ACTIVE:
                audit.record(
                    uow.session,
                    "password_reset_requested",
                    origin=origin,
                    target_type="user",
                    details={"email": email, "known": False},
                )
            else:
                reset_id, _, _ = await self._create(uow.session, tenant, user, None)
                audit.record(
                    uow.session,
                    "password_reset_requested",
                    origin=origin,
                    actor_id=None,
                    target_type="user",
                    target_id=user.id,
                    details={"reset_id": str(reset_id)},
                )
            await uow.commit()
        self._kick()

    async def send_reset(
        self,
        origin: Origin,
        tenant: TenantRef,
        *,
        user_id: uuid.UUID | None = None,
        email: str | None = None,
        actor_id: uuid.UUID | None = None,
    ) -> ResetSent:
        """Mail a reset to an active user of `tenant`, named by id or email (admin, CLI)."""
        async with TenantUnitOfWork(self.sessions, tenant.id) as uow:
            statement = select(User).where(User.tenant_id == tenant.id)
            if user_id is not None:
                statement = statement.where(User.id == user_id)
            else:
                statement = statement.where(User.email == (email or "").strip().lower())
            user = await uow.session.scalar(statement)
            if user is None or user.status != ACTIVE:
                raise UserNotFound(
                    Msg("no user {user_id} in this tenant", user_id=str(user_id or email))
                )
            reset_id, expires_at, token = await self._create(uow.session, tenant, user, actor_id)
            audit.record(
                uow.session,
                "password_reset_sent",
                origin=origin,
                actor_id=actor_id,
                target_type="user",
                target_id=user.id,
                details={"reset_id": str(reset_id)},
            )
            await uow.commit()
            sent = ResetSent(reset_id, user.id, user.email, expires_at, token)
        self._kick()
        return sent

    async def _create(
        self, session: AsyncSession, tenant: TenantRef, user: User, actor_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, datetime, str]:
        token = secrets.token_urlsafe(32)
        now = utcnow().replace(microsecond=0)
        await session.execute(
            update(PasswordReset)
            .where(
                PasswordReset.user_id == user.id,
                PasswordReset.used_at.is_(None),
                PasswordReset.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        row = PasswordReset(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=token_hash(token),
            requested_by=actor_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.password_reset_ttl_s),
        )
        session.add(row)
        by = await session.get(User, (tenant.id, actor_id)) if actor_id else None
        context = {
            "name": user.display_name or user.email,
            "tenant_name": tenant.name,
            "by": (by.display_name or by.email) if by is not None else None,
            "token": token,
            # A fragment, so the token stays out of web server and proxy logs.
            "reset_url": (
                f"https://{tenant.slug}.{self.settings.base_domain}/reset-password#token={token}"
            ),
            "expires_at": row.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        }
        rendered = mail.render(
            "password_reset", mail.mail_locale(user.locale, tenant.locale), context
        )
        mail.enqueue(session, user.email, rendered)
        return row.id, row.expires_at, token

    def _kick(self) -> None:
        if self.mailer is not None:
            self.mailer.kick()

    # --- using ---------------------------------------------------------------------

    async def reset_password(
        self, origin: Origin, tenant: TenantRef, token: str, password: str
    ) -> None:
        """Set the new password, spend the token, end every session of the user."""
        checked = checked_password(password)
        async with TenantUnitOfWork(self.sessions, tenant.id) as uow:
            await _usable(uow.session, tenant.id, token)
        password_hash = await self.auth.hash(checked)
        now = utcnow()
        async with TenantUnitOfWork(self.sessions, tenant.id) as uow:
            session = uow.session
            reset, user = await _usable(session, tenant.id, token, lock=True)
            user.password_hash = password_hash
            reset.used_at = now
            await session.execute(
                update(PasswordReset)
                .where(
                    PasswordReset.user_id == user.id,
                    PasswordReset.id != reset.id,
                    PasswordReset.used_at.is_(None),
                    PasswordReset.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            await AuthService.revoke_user_sessions(session, user.id)
            audit.record(
                session,
                "password_reset",
                origin=origin,
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
                details={"reset_id": str(reset.id)},
            )
            await uow.commit()
            user_id, email = user.id, user.email
        await self.auth.limiter.reset(f"login:acct:{tenant.id}:{email}")
        await self.closer.close_user(tenant.id, user_id)


async def tenant_by_slug(sessions: async_sessionmaker[AsyncSession], slug: str) -> TenantRef | None:
    """The tenant named `slug` (for the operator's CLI)."""
    async with PlatformUnitOfWork(sessions) as uow:
        row = await uow.session.scalar(select(Tenant).where(Tenant.slug == slug))
        return None if row is None else TenantRef.of(row)


async def _usable(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, *, lock: bool = False
) -> tuple[PasswordReset, User]:
    """The reset behind `token` in this tenant and its active user, or ResetInvalid."""
    found = await usable_link(
        session, PasswordReset, tenant_id, token, spent="used_at", user_status=ACTIVE, lock=lock
    )
    if found is None:
        raise ResetInvalid(
            Msg("the reset link is unknown, used, replaced or expired; ask for a new one")
        )
    return found
