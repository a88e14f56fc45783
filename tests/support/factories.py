"""Row factories and auth helpers shared by the integration tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import Task, Tenant, TenantVersion, User
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.passwords import hash_password

PASSWORD = "correct-horse-battery"
_HASH = hash_password(PASSWORD, rounds=4)


async def make_tenant(
    sessions: async_sessionmaker[AsyncSession], slug: str | None = None, **fields: Any
) -> Tenant:
    """A new tenant (with its version counter) under a unique slug."""
    slug = slug or f"t-{uuid.uuid4().hex[:10]}"
    async with PlatformUnitOfWork(sessions) as uow:
        tenant = Tenant(slug=slug, name=fields.pop("name", slug.title()), **fields)
        uow.session.add(tenant)
        await uow.flush()
        uow.session.add(TenantVersion(tenant_id=tenant.id, version=0))
        await uow.commit()
    return tenant


@dataclass
class Account:
    tenant: Tenant
    user_id: uuid.UUID
    email: str
    role: Role
    access_token: str = ""
    refresh_token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "X-Tenant": self.tenant.slug}


async def make_user(
    sessions: async_sessionmaker[AsyncSession],
    tenant: Tenant,
    role: Role = Role.ADMIN,
    email: str | None = None,
    **fields: Any,
) -> Account:
    email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    user_id = uuid.uuid4()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        uow.session.add(
            User(id=user_id, email=email, role=role.value, password_hash=_HASH, **fields)
        )
        await uow.commit()
    return Account(tenant, user_id, email, role)


async def login(client: Any, account: Account, password: str = PASSWORD) -> Account:
    response = await client.post(
        "/auth/login",
        json={"email": account.email, "password": password},
        headers={"X-Tenant": account.tenant.slug},
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    account.access_token = body["access_token"]
    account.refresh_token = body["refresh_token"]
    return account


async def signed_in(
    client: Any,
    sessions: async_sessionmaker[AsyncSession],
    role: Role = Role.ADMIN,
    tenant: Tenant | None = None,
    **fields: Any,
) -> Account:
    tenant = tenant or await make_tenant(sessions)
    return await login(client, await make_user(sessions, tenant, role, **fields))


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(settings: Any, account: Account) -> dict[str, str]:
    """Access tokens that must all be refused (401) for `account`'s identity."""
    import json
    from datetime import UTC, datetime, timedelta

    import jwt

    from syncd.auth import tokens

    now = datetime.now(UTC)
    claims = {
        "sub": str(account.user_id),
        "tid": str(account.tenant.id),
        "role": "admin",
        "sid": str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": str(uuid.uuid4()),
        "iss": settings.jwt_issuer,
        "aud": tokens.ACCESS_AUDIENCE,
    }
    expired = tokens.encode_access(
        settings.jwt_access_secret,
        settings.jwt_issuer,
        user_id=account.user_id,
        tenant_id=account.tenant.id,
        role=account.role,
        session_id=uuid.uuid4(),
        issued_at=now - timedelta(hours=2),
        ttl_s=60,
    )
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "expired": expired,
        "bad_signature": jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256"),
        "alg_none": f"{none_header}.{_b64(json.dumps(claims).encode())}.",
        "wrong_audience": jwt.encode(
            {**claims, "aud": "someone-else"}, settings.jwt_access_secret, algorithm="HS256"
        ),
        "refresh_as_access": account.refresh_token,
        "garbage": "not.a.jwt",
    }


async def add_task(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, title: str
) -> uuid.UUID:
    task_id = uuid.uuid4()
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        uow.session.add(Task(id=task_id, title=title))
        await uow.commit()
    return task_id
