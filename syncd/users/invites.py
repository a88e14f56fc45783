"""Invitations: an admin invites by email; the invitee accepts, sets a password, signs in.

An invite creates a `pending` user and a single-use, expiring token stored as
its SHA-256 (`token_hash`), mailed through the outbox in the invitee's
language (else the tenant's); accepting it sets the password, activates the
user, revokes their other open invites and starts a session. Like every use
case of `syncd.users.service`, each writes its audit entry in its transaction.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import User, UserInvite
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd import mail
from syncd.admin.audit import Origin
from syncd.auth.errors import checked_password
from syncd.auth.principal import Principal
from syncd.auth.service import AuthService, TokenPair
from syncd.auth.tokens import token_hash
from syncd.i18n import Msg
from syncd.settings import Settings
from syncd.tenancy import TenantRef
from syncd.users.one_time import usable_link
from syncd.users.service import ACTIVE, PENDING, UserExists, UserInfo, audit_user
from syncd.web.problems import BadRequest


class InviteInvalid(BadRequest):
    """400 for an unknown, spent, revoked or expired token alike: one answer for all."""

    code = "invite_invalid"
    title = "The invitation cannot be used"


@dataclass(frozen=True, slots=True)
class Invited:
    user: UserInfo
    invite_id: uuid.UUID
    expires_at: datetime
    token: str


class Invitations:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        auth: AuthService,
        mailer: mail.Mailer | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.auth = auth
        self.mailer = mailer

    def _uow(self, tenant_id: uuid.UUID) -> TenantUnitOfWork:
        return TenantUnitOfWork(self.sessions, tenant_id)

    async def invite(
        self,
        origin: Origin,
        who: Principal,
        tenant: TenantRef,
        *,
        email: str,
        role: Role,
        display_name: str = "",
        locale: str | None = None,
    ) -> Invited:
        email = email.strip().lower()
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._uow(tenant.id) as uow:
            session = uow.session
            if await session.scalar(select(User.id).where(User.email == email)) is not None:
                raise UserExists(Msg("{email} is already a user of this tenant", email=email))
            user = User(
                id=uuid.uuid4(),
                email=email,
                display_name=display_name,
                role=role.value,
                status=PENDING,
                locale=locale,
            )
            session.add(user)
            try:
                await session.flush()
            except IntegrityError:  # invited at the same moment by someone else
                raise UserExists(
                    Msg("{email} is already a user of this tenant", email=email)
                ) from None
            invite = UserInvite(
                id=uuid.uuid4(),
                user_id=user.id,
                token_hash=token_hash(token),
                invited_by=who.user_id,
                created_at=now,
                expires_at=now + timedelta(seconds=self.settings.invite_ttl_s),
            )
            session.add(invite)
            inviter = await session.get(User, (tenant.id, who.user_id))
            rendered = mail.render(
                "invite",
                mail.mail_locale(locale, tenant.locale),
                self._invite_context(tenant, user, invite, token, inviter),
            )
            mail.enqueue(session, email, rendered)
            audit_user(
                session,
                origin,
                "user_invited",
                who.user_id,
                user.id,
                {"email": email, "role": role.value, "invite_id": str(invite.id)},
            )
            await uow.commit()
        if self.mailer is not None:
            self.mailer.kick()
        return Invited(UserInfo.of(user), invite.id, invite.expires_at, token)

    def _invite_context(
        self,
        tenant: TenantRef,
        user: User,
        invite: UserInvite,
        token: str,
        inviter: User | None,
    ) -> dict[str, object]:
        return {
            "name": user.display_name or user.email,
            "inviter": (inviter.display_name or inviter.email) if inviter else tenant.name,
            "tenant_name": tenant.name,
            "role": user.role,
            "token": token,
            # A fragment, so the token stays out of web server and proxy logs.
            "accept_url": (
                f"https://{tenant.slug}.{self.settings.base_domain}/accept-invite#token={token}"
            ),
            "expires_at": invite.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        }

    async def accept_invite(
        self,
        origin: Origin,
        tenant: TenantRef,
        *,
        token: str,
        password: str,
        display_name: str | None = None,
    ) -> TokenPair:
        """Set the password, activate the user, spend the invite, log the user in.

        The token is checked before the (deliberately slow) hashing, so a wrong
        token costs no bcrypt, and again under lock before the write.
        """
        checked_password(password)
        async with self._uow(tenant.id) as uow:
            await _usable_invite(uow.session, tenant.id, token)
        password_hash = await self.auth.hash(password)
        now = utcnow()
        async with self._uow(tenant.id) as uow:
            session = uow.session
            invite, user = await _usable_invite(session, tenant.id, token, lock=True)
            user.password_hash = password_hash
            user.status = ACTIVE
            user.last_login_at = now
            if display_name:
                user.display_name = display_name
            invite.accepted_at = now
            await session.execute(
                update(UserInvite)
                .where(
                    UserInvite.user_id == user.id,
                    UserInvite.id != invite.id,
                    UserInvite.accepted_at.is_(None),
                    UserInvite.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            pair = await self.auth.issue_session(session, user, origin)
            audit_user(
                session, origin, "invite_accepted", user.id, user.id, {"invite_id": str(invite.id)}
            )
            await uow.commit()
        return pair


async def _usable_invite(
    session: AsyncSession, tenant_id: uuid.UUID, token: str, *, lock: bool = False
) -> tuple[UserInvite, User]:
    """The invite behind `token` and its pending user, or InviteInvalid."""
    found = await usable_link(
        session, UserInvite, tenant_id, token, spent="accepted_at", user_status=PENDING, lock=lock
    )
    if found is None:
        raise InviteInvalid(
            Msg("the invitation is unknown, used, revoked or expired; ask for a new one")
        )
    return found
