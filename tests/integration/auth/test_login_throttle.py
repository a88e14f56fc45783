"""The login throttle locks the account that was mistyped, not the colleagues
behind the same address (#19): per account tightly, per client address loosely;
TRUSTED_PROXIES decides when `X-Forwarded-For` / `Forwarded` names the client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, User
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.auth import service
from syncd.console.session import SESSION_COOKIE
from tests.support.console import Console
from tests.support.factories import PASSWORD, Account, make_tenant, make_user
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
WRONG = "wrong-password-typo"


async def attempt(
    client: Any, account: Account, password: str, headers: dict[str, str] | None = None
) -> Any:
    return await client.post(
        "/auth/login",
        json={"email": account.email, "password": password},
        headers={"X-Tenant": account.tenant.slug, **(headers or {})},
    )


async def test_ten_typos_lock_that_account_only(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    # The defaults: LOGIN_RATE_LIMIT=10 per account, LOGIN_IP_RATE_LIMIT=200 per address.
    client = await aiohttp_client(create_app(make_settings(tmp_path, DATABASE_URL=database_url)))
    office = await make_tenant(sessions)
    typist = await make_user(sessions, office, Role.TECHNICIAN)
    colleague = await make_user(sessions, office, Role.TECHNICIAN)
    elsewhere = await make_user(sessions, await make_tenant(sessions), Role.ADMIN)
    for _ in range(10):
        assert (await attempt(client, typist, WRONG)).status == 401
    # Same address (the test client is one IP), same tenant and another tenant: welcome.
    assert (await attempt(client, colleague, PASSWORD)).status == 200
    assert (await attempt(client, elsewhere, PASSWORD)).status == 200
    # The typo'd account itself waits, even with the right password.
    throttled = await attempt(client, typist, PASSWORD)
    assert throttled.status == 429
    assert throttled.headers["Content-Type"].startswith("application/problem+json")
    problem = await throttled.json(content_type=None)
    assert problem["code"] == "login_throttled"
    assert problem["status"] == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 300
    assert problem["retry_after"] == int(throttled.headers["Retry-After"])
    # The same email in another tenant is another account.
    twin = await make_user(sessions, await make_tenant(sessions), Role.ADMIN, email=typist.email)
    assert (await attempt(client, twin, PASSWORD)).status == 200


async def test_the_address_limit_is_loose_but_real(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, LOGIN_RATE_LIMIT="3", LOGIN_IP_RATE_LIMIT="5"
    )
    client = await aiohttp_client(create_app(settings))
    tenant = await make_tenant(sessions)
    people = [await make_user(sessions, tenant, Role.STAFF) for _ in range(3)]
    for person in people[:2]:
        for _ in range(2):  # under each account's limit of 3
            assert (await attempt(client, person, WRONG)).status == 401
    assert (await attempt(client, people[2], WRONG)).status == 401  # 5th failure from here
    sprayed = await attempt(client, people[2], PASSWORD)
    assert sprayed.status == 429
    assert (await sprayed.json(content_type=None))["code"] == "login_throttled"


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    limits = {"LOGIN_RATE_LIMIT": "50", "LOGIN_IP_RATE_LIMIT": "2"}
    tenant = await make_tenant(sessions)
    person = await make_user(sessions, tenant, Role.STAFF)

    # Not trusted (the default): the header is the client's own word, ignored.
    plain = await aiohttp_client(
        create_app(make_settings(tmp_path / "a", DATABASE_URL=database_url, **limits))
    )
    for n in range(2):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert (await attempt(plain, person, WRONG, forged)).status == 401
    fresh = {"X-Forwarded-For": "198.51.100.99"}
    assert (await attempt(plain, person, PASSWORD, fresh)).status == 429

    # The test client's peer is 127.0.0.1: trusted, the header names the client.
    proxied = await aiohttp_client(
        create_app(
            make_settings(
                tmp_path / "b", DATABASE_URL=database_url, TRUSTED_PROXIES="127.0.0.0/8", **limits
            )
        )
    )
    carrier = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}  # client, then an untrusted hop
    for _ in range(2):
        assert (await attempt(proxied, person, WRONG, carrier)).status == 401
    assert (await attempt(proxied, person, PASSWORD, carrier)).status == 429
    office = {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}
    assert (await attempt(proxied, person, PASSWORD, office)).status == 200
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        addresses = set(
            (
                await uow.session.execute(
                    select(AuditEntry.ip).where(AuditEntry.action.in_(("login", "login_failed")))
                )
            ).scalars()
        )
    assert {"10.0.0.1", "2001:db8::1"} <= addresses
    assert "198.51.100.0" not in addresses


async def test_the_console_login_keeps_the_throttle(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app: web.Application = create_app(make_settings(tmp_path, DATABASE_URL=database_url))
    client = await aiohttp_client(app)
    tenant = await make_tenant(sessions)
    typist = await make_user(sessions, tenant, Role.ADMIN)
    colleague = await make_user(sessions, tenant, Role.ADMIN)
    console = Console(client)
    await console.get("/console/login")
    mistyped = {"tenant": tenant.slug, "email": typist.email, "password": WRONG}
    for _ in range(10):
        wrong, text = await console.post("/console/login", mistyped)
        assert wrong.status == 401, text
    throttled, text = await console.post("/console/login", {**mistyped, "password": PASSWORD})
    assert throttled.status == 429
    assert "login_throttled" in text
    assert int(throttled.headers["Retry-After"]) > 0
    assert SESSION_COOKIE not in console.cookies
    await console.sign_in(colleague)  # 303 to the console
    assert SESSION_COOKIE in console.cookies


async def test_a_login_naming_nobody_does_the_bcrypt_of_a_wrong_password(
    client: Any, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing side channel: an unknown email or tenant is verified against a dummy
    hash of the same cost, so every failed login costs one bcrypt of that cost."""
    checked: list[str] = []
    real = service.verify_password

    def spy(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(service, "verify_password", spy)
    account = await make_user(sessions, await make_tenant(sessions), Role.STAFF)
    dummy = client.app[appkeys.AUTH]._dummy_hash
    rounds = client.app[appkeys.SETTINGS].bcrypt_rounds
    assert dummy.startswith(f"$2b${rounds:02d}$")
    async with TenantUnitOfWork(sessions, account.tenant.id) as uow:
        known_hash = (
            await uow.session.get(User, (account.tenant.id, account.user_id))
        ).password_hash
    assert known_hash.split("$")[2] == dummy.split("$")[2]  # the same cost
    nobody = Account(account.tenant, account.user_id, "nobody@example.com", account.role)
    elsewhere = await client.post(
        "/auth/login",
        json={"email": account.email, "password": WRONG},
        headers={"X-Tenant": "no-such-tenant"},
    )
    assert elsewhere.status == 404
    assert (await attempt(client, nobody, WRONG)).status == 401
    assert (await attempt(client, account, WRONG)).status == 401
    assert checked == [dummy, dummy, known_hash]
