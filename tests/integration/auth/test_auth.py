"""Login, refresh rotation and reuse, logout, registration, throttling, token attacks."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, RefreshToken
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from tests.support.factories import (
    PASSWORD,
    Account,
    forged_tokens,
    login,
    make_tenant,
    make_user,
    signed_in,
)
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]


async def audit_actions(sessions: Sessions, account: Account) -> list[str]:
    async with TenantUnitOfWork(sessions, account.tenant.id) as uow:
        rows = await uow.session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
        return list(rows.scalars())


async def test_login_answers_tokens(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    account = await make_user(sessions, tenant, Role.STAFF, email="Staff@Example.com")
    response = await client.post(
        "/auth/login",
        json={"email": "STAFF@example.com", "password": PASSWORD},
        headers={"X-Tenant": tenant.slug},
    )
    assert response.status == 200
    body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status == 200
    assert (await me.json())["role"] == "staff"
    assert "login" in await audit_actions(sessions, account)


async def test_wrong_password_and_unknown_email_answer_alike(
    client: Any, sessions: Sessions
) -> None:
    account = await make_user(sessions, await make_tenant(sessions))
    headers = {"X-Tenant": account.tenant.slug}
    wrong = await client.post(
        "/auth/login", json={"email": account.email, "password": "nope-nope-nope"}, headers=headers
    )
    unknown = await client.post(
        "/auth/login", json={"email": "ghost@example.com", "password": "x"}, headers=headers
    )
    bodies = [await r.json(content_type=None) for r in (wrong, unknown)]
    assert wrong.status == unknown.status == 401
    assert {b["code"] for b in bodies} == {"invalid_credentials"}
    assert bodies[0]["detail"] == bodies[1]["detail"]
    assert (await audit_actions(sessions, account)).count("login_failed") == 2


async def test_inactive_user_cannot_log_in(client: Any, sessions: Sessions) -> None:
    account = await make_user(sessions, await make_tenant(sessions), status="inactive")
    response = await client.post(
        "/auth/login",
        json={"email": account.email, "password": PASSWORD},
        headers={"X-Tenant": account.tenant.slug},
    )
    assert response.status == 401


async def test_login_needs_a_known_tenant(client: Any) -> None:
    response = await client.post("/auth/login", json={"email": "a@b.c", "password": "x"})
    assert (await response.json(content_type=None))["code"] == "tenant_required"
    unknown = await client.post(
        "/auth/login", json={"email": "a@b.c", "password": "x"}, headers={"X-Tenant": "nope"}
    )
    assert unknown.status == 404


async def refresh(client: Any, token: str) -> Any:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_and_the_new_pair_works(client: Any, sessions: Sessions) -> None:
    account = await signed_in(client, sessions, Role.TECHNICIAN)
    response = await refresh(client, account.refresh_token)
    assert response.status == 200
    pair = await response.json()
    assert pair["refresh_token"] != account.refresh_token
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status == 200
    again = await refresh(client, pair["refresh_token"])
    assert again.status == 200


async def test_resend_within_grace_answers_the_same_successor(
    client: Any, sessions: Sessions
) -> None:
    account = await signed_in(client, sessions)
    first = await (await refresh(client, account.refresh_token)).json()
    second_response = await refresh(client, account.refresh_token)
    assert second_response.status == 200
    second = await second_response.json()
    assert second["refresh_token"] == first["refresh_token"]
    assert (await refresh(client, first["refresh_token"])).status == 200


async def test_reuse_after_grace_revokes_the_family(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, REFRESH_REUSE_GRACE_SECONDS="0")
    client = await aiohttp_client(create_app(settings))
    account = await signed_in(client, sessions)
    successor = await (await refresh(client, account.refresh_token)).json()
    await asyncio.sleep(0.01)  # past a zero-second grace period
    reused = await refresh(client, account.refresh_token)
    assert reused.status == 401
    assert (await reused.json(content_type=None))["code"] == "refresh_reused"
    # The thief's successor is dead too, and so is the session's access token.
    assert (await refresh(client, successor["refresh_token"])).status == 401
    me = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {successor['access_token']}"}
    )
    assert (await me.json(content_type=None))["code"] == "session_revoked"
    assert "refresh_reuse" in await audit_actions(sessions, account)
    async with TenantUnitOfWork(sessions, account.tenant.id) as uow:
        rows = (await uow.session.execute(select(RefreshToken))).scalars().all()
        assert rows
        assert all(row.revoked_at is not None for row in rows)
        assert all(len(row.token_hash) == 64 for row in rows)


async def test_logout_revokes_the_session(client: Any, sessions: Sessions) -> None:
    account = await signed_in(client, sessions)
    first_headers, first_refresh = dict(account.headers), account.refresh_token
    other = await login(client, account)  # a second session of the same user
    response = await client.post("/auth/logout", headers=other.headers)
    assert response.status == 204
    me = await client.get("/auth/me", headers=other.headers)
    assert me.status == 401
    assert (await me.json(content_type=None))["code"] == "session_revoked"
    assert (await refresh(client, other.refresh_token)).status == 401
    # The other session of the same user is untouched.
    assert (await client.get("/auth/me", headers=first_headers)).status == 200
    assert (await refresh(client, first_refresh)).status == 200
    assert "logout" in await audit_actions(sessions, account)


async def test_token_attacks_are_all_401(client: Any, sessions: Sessions, settings: Any) -> None:
    account = await signed_in(client, sessions)
    for name, token in forged_tokens(settings, account).items():
        response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, name
        body = await response.json(content_type=None)
        assert body["code"] in {"token_invalid", "token_expired"}, name
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    missing = await client.get("/auth/me")
    assert (await missing.json(content_type=None))["code"] == "token_missing"


async def test_another_tenants_token_is_refused(client: Any, sessions: Sessions) -> None:
    mine = await signed_in(client, sessions)
    theirs = await signed_in(client, sessions)
    response = await client.get(
        "/auth/me",
        headers={"Authorization": f"Bearer {theirs.access_token}", "X-Tenant": mine.tenant.slug},
    )
    assert response.status == 403
    assert (await response.json(content_type=None))["code"] == "tenant_mismatch"


async def test_throttle_after_n_bad_logins(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, LOGIN_RATE_LIMIT="3", LOGIN_RATE_WINDOW_SECONDS="60"
    )
    client = await aiohttp_client(create_app(settings))
    account = await make_user(sessions, await make_tenant(sessions))
    headers = {"X-Tenant": account.tenant.slug}
    bad = {"email": account.email, "password": "wrong-password-1"}
    for _ in range(3):
        assert (await client.post("/auth/login", json=bad, headers=headers)).status == 401
    throttled = await client.post("/auth/login", json=bad, headers=headers)
    assert throttled.status == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert (await throttled.json(content_type=None))["code"] == "login_throttled"
    # Even the right password waits out the window.
    good = {"email": account.email, "password": PASSWORD}
    assert (await client.post("/auth/login", json=good, headers=headers)).status == 429


async def test_throttle_uses_redis_when_configured(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    aiohttp_client: Any,
    sessions: Sessions,
) -> None:
    import redis.asyncio as aioredis

    prefix = redis_prefix
    settings = make_settings(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        LOGIN_RATE_LIMIT="2",
    )
    client = await aiohttp_client(create_app(settings))
    account = await make_user(sessions, await make_tenant(sessions))
    headers = {"X-Tenant": account.tenant.slug}
    bad = {"email": account.email, "password": "wrong-password-1"}
    for _ in range(2):
        await client.post("/auth/login", json=bad, headers=headers)
    assert (await client.post("/auth/login", json=bad, headers=headers)).status == 429
    store = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in store.scan_iter(f"{prefix}rl:login:acct:{account.tenant.id}:*")]
        assert len(keys) == 1
        assert int(await store.get(keys[0])) == 2
        await store.delete(*[k async for k in store.scan_iter(f"{prefix}*")])
    finally:
        await store.aclose()


async def test_register_in_dev(client: Any, sessions: Sessions) -> None:
    body = {
        "tenant_slug": f"acme-{id(client) % 10_000}",
        "tenant_name": "Acme",
        "email": "Owner@Acme.example",
        "password": "a-very-good-password",
    }
    response = await client.post("/auth/register", json=body)
    assert response.status == 201
    created = await response.json()
    assert created["user"]["email"] == "owner@acme.example"
    again = await client.post("/auth/register", json=body)
    assert again.status == 409
    assert (await again.json(content_type=None))["code"] == "slug_taken"
    reserved = await client.post("/auth/register", json={**body, "tenant_slug": "system"})
    assert reserved.status == 409


@pytest.mark.parametrize(
    ("password", "status", "code"),
    [
        ("short", 422, "password_policy"),
        ("Aa1!" * 19, 422, "password_policy"),  # 76 bytes: over bcrypt's 72
        ("ش" * 40, 422, "password_policy"),  # 80 bytes in UTF-8
    ],
)
async def test_register_password_rules(client: Any, password: str, status: int, code: str) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "tenant_slug": "pw-rules",
            "tenant_name": "x",
            "email": "a@b.example",
            "password": password,
        },
    )
    assert response.status == status
    assert (await response.json(content_type=None))["code"] == code


async def test_register_is_404_in_production(
    database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = make_settings(
        tmp_path,
        DATABASE_URL=database_url,
        SYNCD_ENV="production",
        JWT_ACCESS_SECRET="p" * 40,
        JWT_REFRESH_SECRET="q" * 40,
    )
    client = await aiohttp_client(create_app(settings))
    response = await client.post("/auth/register", json={})
    assert response.status == 404
    assert (await response.json(content_type=None))["code"] == "not_found"


async def test_refresh_garbage_is_401(client: Any) -> None:
    response = await refresh(client, "definitely-not-a-token")
    assert response.status == 401
    assert (await response.json(content_type=None))["code"] == "refresh_invalid"


async def test_passwords_are_not_trimmed(client: Any, sessions: Sessions) -> None:
    body = {
        "tenant_slug": f"trim-{uuid.uuid4().hex[:6]}",
        "tenant_name": "Trim",
        "email": "trim@example.com",
        "password": "  spaced password  ",
    }
    assert (await client.post("/auth/register", json=body)).status == 201
    headers = {"X-Tenant": body["tenant_slug"]}
    trimmed = await client.post(
        "/auth/login",
        json={"email": "trim@example.com", "password": "spaced password"},
        headers=headers,
    )
    assert trimmed.status == 401
    exact = await client.post(
        "/auth/login",
        json={"email": "trim@example.com", "password": "  spaced password  "},
        headers=headers,
    )
    assert exact.status == 200
