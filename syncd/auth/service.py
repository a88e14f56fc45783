"""Login, token refresh with rotation and reuse detection, logout, sessions.

Refresh tokens rotate: each use spends the token and issues a successor in the
same family. Presenting a spent token again means it was stolen or replayed:
the whole family is revoked and audited -- except within a short grace period
after rotation (REFRESH_REUSE_GRACE_SECONDS), where the same successor is
answered again, because a technician on a bad link often loses the response
to a refresh they did make (RFC 9700 section 4.14.2 discusses the trade-off).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.auth_lookup import principal_rows
from storage.models import RefreshToken, Tenant, User
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth import tokens
from syncd.auth.errors import (
    InvalidCredentials,
    LoginThrottled,
    RefreshInvalid,
    RefreshReused,
    SessionRevoked,
)
from syncd.auth.principal import Principal
from syncd.auth.ratelimit import Limiter
from syncd.i18n import Msg
from syncd.passwords import hash_password, verify_password
from syncd.settings import Settings
from syncd.tenancy import TenantRef, active_tenant, usable_tenant

ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_json(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class AuthService:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        limiter: Limiter,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.limiter = limiter
        # Verified against when the email is unknown, so both paths cost one bcrypt.
        self._dummy_hash = hash_password("dummy-password-for-timing", settings.bcrypt_rounds)

    # --- passwords ---------------------------------------------------------------

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(hash_password, password, self.settings.bcrypt_rounds)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Whether `password` matches `hashed`; with no hash (nobody by that email or
        tenant) the same bcrypt work is done against a dummy hash, and the answer is no."""
        ok = await asyncio.to_thread(verify_password, password, hashed or self._dummy_hash)
        return ok and hashed is not None

    # --- login -------------------------------------------------------------------

    async def login(
        self,
        origin: Origin,
        tenant: TenantRef,
        email: str,
        password: str,
        client_id: str | None = None,
    ) -> TokenPair:
        email = email.strip().lower()
        account = f"login:acct:{tenant.id}:{email}"
        address = f"login:ip:{origin.ip}"
        # The account's limit is tight, the address's loose: one person's typos
        # never lock out a colleague behind the same office or carrier NAT.
        await self._check_throttle(account, self.settings.login_rate_limit)
        await self._check_throttle(address, self.settings.login_ip_rate_limit)
        async with TenantUnitOfWork(self.sessions, tenant.id) as uow:
            user = (
                await uow.session.execute(select(User).where(User.email == email))
            ).scalar_one_or_none()
            valid = await self.verify(password, user.password_hash if user else None)
            if user is None or not valid or user.status != ACTIVE:
                audit.record(
                    uow.session,
                    "login_failed",
                    origin=origin,
                    actor_id=user.id if user else None,
                    target_type="user",
                    target_id=user.id if user else None,
                    details={"email": email},
                )
                await uow.commit()
                await self.limiter.hit(account)
                await self.limiter.hit(address)
                raise InvalidCredentials(Msg("the email or password is wrong"))
            user.last_login_at = utcnow()
            pair, _ = await self._issue(uow.session, user, uuid.uuid4(), origin, client_id)
            audit.record(
                uow.session,
                "login",
                origin=origin,
                actor_id=user.id,
                target_type="user",
                target_id=user.id,
            )
            await uow.commit()
        await self.limiter.reset(account)
        return pair

    async def issue_session(
        self,
        session: AsyncSession,
        user: User,
        origin: Origin,
        client_id: str | None = None,
    ) -> TokenPair:
        """Start a new session (token family) for `user` in the caller's transaction."""
        pair, _ = await self._issue(session, user, uuid.uuid4(), origin, client_id)
        return pair

    async def _check_throttle(self, key: str, limit: int) -> None:
        hits, retry_after = await self.limiter.count(key)
        if hits >= limit:
            raise LoginThrottled(
                Msg("too many failed logins; retry in {seconds} s", seconds=retry_after),
                headers={"Retry-After": str(retry_after)},
                extra={"retry_after": retry_after},
            )

    async def _issue(
        self,
        session: AsyncSession,
        user: User,
        family_id: uuid.UUID,
        origin: Origin,
        client_id: str | None,
    ) -> tuple[TokenPair, RefreshToken]:
        now = utcnow().replace(microsecond=0)
        row = RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            family_id=family_id,
            token_hash="",
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_s),
            client_id=client_id,
            ip=origin.ip,
        )
        refresh = self._encode_refresh(user.tenant_id, row)
        row.token_hash = tokens.token_hash(refresh)
        session.add(row)
        pair = TokenPair(self._encode_access(user, family_id, now), refresh, self._access_ttl)
        return pair, row

    @property
    def _access_ttl(self) -> int:
        return self.settings.access_token_ttl_s

    def _encode_access(self, user: User, family_id: uuid.UUID, now: datetime) -> str:
        return tokens.encode_access(
            self.settings.jwt_access_secret,
            self.settings.jwt_issuer,
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=Role(user.role),
            session_id=family_id,
            issued_at=now,
            ttl_s=self._access_ttl,
        )

    def _encode_refresh(self, tenant_id: uuid.UUID, row: RefreshToken) -> str:
        return tokens.encode_refresh(
            self.settings.jwt_refresh_secret,
            self.settings.jwt_issuer,
            user_id=row.user_id,
            tenant_id=tenant_id,
            jti=row.id,
            issued_at=row.created_at,
            expires_at=row.expires_at,
        )

    # --- refresh -----------------------------------------------------------------

    async def refresh(self, origin: Origin, refresh_token: str) -> TokenPair:
        try:
            claims = tokens.decode_refresh(
                refresh_token, self.settings.jwt_refresh_secret, self.settings.jwt_issuer
            )
        except tokens.TokenError as exc:
            raise RefreshInvalid(exc.detail) from None
        async with TenantUnitOfWork(self.sessions, claims.tenant_id) as uow:
            session = uow.session
            row = (
                await session.execute(
                    select(RefreshToken)
                    .where(RefreshToken.token_hash == tokens.token_hash(refresh_token))
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if row is None or row.id != claims.jti:
                raise RefreshInvalid("unknown refresh token")
            user = await session.get(User, (claims.tenant_id, row.user_id))
            if row.revoked_at is not None or user is None or user.status != ACTIVE:
                raise RefreshInvalid("the session has ended")
            now = utcnow()
            if row.used_at is not None:
                pair = await self._replay_within_grace(session, user, row, now)
                if pair is not None:
                    return pair
                await self._revoke_family(session, row.family_id, now)
                audit.record(
                    session,
                    "refresh_reuse",
                    origin=origin,
                    actor_id=user.id,
                    target_type="session",
                    target_id=row.family_id,
                    details={"token_id": str(row.id)},
                )
                await uow.commit()
                raise RefreshReused("this refresh token was already used; sign in again")
            if row.expires_at <= now:
                raise RefreshInvalid("the refresh token has expired")
            pair, successor = await self._issue(session, user, row.family_id, origin, row.client_id)
            row.used_at = now
            row.replaced_by = successor.id
            await uow.commit()
        return pair

    async def _replay_within_grace(
        self, session: AsyncSession, user: User, row: RefreshToken, now: datetime
    ) -> TokenPair | None:
        assert row.used_at is not None
        if row.replaced_by is None:
            return None
        if now - row.used_at > timedelta(seconds=self.settings.refresh_reuse_grace_s):
            return None
        successor = await session.get(RefreshToken, (user.tenant_id, row.replaced_by))
        if successor is None or successor.revoked_at is not None or successor.used_at:
            return None
        refresh = self._encode_refresh(user.tenant_id, successor)
        access = self._encode_access(user, row.family_id, now.replace(microsecond=0))
        return TokenPair(access, refresh, self._access_ttl)

    # --- sessions ----------------------------------------------------------------

    async def _revoke_family(
        self, session: AsyncSession, family_id: uuid.UUID, now: datetime
    ) -> None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def logout(self, origin: Origin, who: Principal) -> None:
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            await self._revoke_family(uow.session, who.session_id, utcnow())
            audit.record(
                uow.session,
                "logout",
                origin=origin,
                actor_id=who.user_id,
                target_type="session",
                target_id=who.session_id,
            )
            await uow.commit()

    @staticmethod
    async def revoke_user_sessions(
        session: AsyncSession, user_id: uuid.UUID, keep_family: uuid.UUID | None = None
    ) -> None:
        """Revoke every session of a user (deactivation), or all but one (password change)."""
        statement = update(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
        )
        if keep_family is not None:
            statement = statement.where(RefreshToken.family_id != keep_family)
        await session.execute(statement.values(revoked_at=utcnow()))

    async def principal_for(
        self,
        claims: tokens.AccessClaims,
        named: str | None = None,
        on_tenant: Callable[[TenantRef], None] | None = None,
    ) -> tuple[TenantRef, Principal]:
        """The live principal behind an access token, and its tenant, read in one
        transaction: the tenant active and, when a header or subdomain `named`
        one, that one; the user active; the session not revoked. `on_tenant`
        hears of the tenant as soon as it is known (so a refused session is
        answered in the tenant's language).

        Every request runs this: on PostgreSQL it is one statement in a lean tenant
        transaction (storage/auth_lookup.py), under the same role and row-level
        security, instead of three ORM reads."""
        engine = self.sessions.kw.get("bind")
        if engine is not None and engine.dialect.name == "postgresql":
            return await self._principal_on_postgres(engine, claims, named, on_tenant)
        async with TenantUnitOfWork(self.sessions, claims.tenant_id) as uow:
            session = uow.session
            tenant = usable_tenant(
                active_tenant(await session.get(Tenant, claims.tenant_id)),
                named,
                claims.tenant_id,
            )
            if on_tenant is not None:
                on_tenant(tenant)
            user = await session.get(User, (claims.tenant_id, claims.user_id))
            if user is None or user.status != ACTIVE:
                raise SessionRevoked("the user is not active")
            alive = await session.scalar(
                select(RefreshToken.id)
                .where(
                    RefreshToken.family_id == claims.session_id,
                    RefreshToken.user_id == user.id,
                    RefreshToken.revoked_at.is_(None),
                )
                .limit(1)
            )
            if alive is None:
                raise SessionRevoked("the session was signed out or revoked")
            return tenant, Principal(
                user_id=user.id,
                tenant_id=user.tenant_id,
                role=Role(user.role),
                session_id=claims.session_id,
                email=user.email,
                is_platform_operator=user.is_platform_operator and tenant.is_system,
                token_expires_at=claims.expires_at,
                locale=user.locale,
            )

    async def _principal_on_postgres(
        self,
        engine: AsyncEngine,
        claims: tokens.AccessClaims,
        named: str | None,
        on_tenant: Callable[[TenantRef], None] | None,
    ) -> tuple[TenantRef, Principal]:
        """`principal_for` in one statement: the same checks, in the same order."""
        found = await principal_rows(engine, claims.tenant_id, claims.user_id, claims.session_id)
        row = found.tenant
        tenant = usable_tenant(
            TenantRef(row.id, row.slug, row.name, row.locale, row.time_zone, row.is_system)
            if row is not None and row.is_active
            else None,
            named,
            claims.tenant_id,
        )
        if on_tenant is not None:
            on_tenant(tenant)
        user = found.user
        if user is None or user.status != ACTIVE:
            raise SessionRevoked("the user is not active")
        if not found.session_alive:
            raise SessionRevoked("the session was signed out or revoked")
        return tenant, Principal(
            user_id=user.id,
            tenant_id=user.tenant_id,
            role=Role(user.role),
            session_id=claims.session_id,
            email=user.email,
            is_platform_operator=user.is_platform_operator and tenant.is_system,
            token_expires_at=claims.expires_at,
            locale=user.locale,
        )
