"""Password recovery (#19): forgot, reset, an admin's reset, the operator's CLI.

One answer whether the email exists or not; the token is single use, expires,
belongs to one tenant, and ending every session of the user is part of using it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, OutboxMail, PasswordReset, Tenant
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.admin.audit import NOWHERE
from syncd.app import create_app
from syncd.tenancy import TenantRef
from syncd.users.recovery import PasswordResets, token_hash
from tests.support.factories import PASSWORD, Account, login, make_tenant, make_user, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "a-brand-new-passphrase"
TOKEN = re.compile(r"#token=([A-Za-z0-9_\-]+)")


async def forgot(client: Any, tenant: Tenant, email: str, **headers: str) -> Any:
    """Ask for a reset, then wait for the lookup the answer did not wait for."""
    response = await client.post(
        "/auth/forgot-password",
        json={"email": email},
        headers={"X-Tenant": tenant.slug, **headers},
    )
    await client.app[appkeys.MAILER].idle()
    return response


async def reset(client: Any, tenant: Tenant, token: str, password: str = NEW_PASSWORD) -> Any:
    return await client.post(
        "/auth/reset-password",
        json={"token": token, "password": password},
        headers={"X-Tenant": tenant.slug},
    )


async def mails(sessions: Sessions, tenant: Tenant) -> list[OutboxMail]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        rows = list(await uow.session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))
        await uow.commit()
    return rows


def token_in(mail: OutboxMail) -> str:
    found = TOKEN.search(mail.body_text)
    assert found is not None, mail.body_text
    assert found[1] in mail.body_html
    return found[1]


async def code_of(response: Any) -> str:
    code: str = (await response.json(content_type=None))["code"]
    return code


async def mailed_token(client: Any, sessions: Sessions, account: Account) -> str:
    assert (await forgot(client, account.tenant, account.email)).status == 202
    return token_in((await mails(sessions, account.tenant))[-1])


async def test_the_answer_is_the_same_whether_the_email_exists_or_not(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    known = await make_user(sessions, tenant, Role.TECHNICIAN)
    pending = await make_user(sessions, tenant, Role.STAFF, status="pending")
    answers = []
    for email in (known.email, "nobody@example.com", pending.email, known.email.upper()):
        response = await forgot(client, tenant, email)
        answers.append((response.status, await response.read()))
    assert len(set(answers)) == 1
    status, body = answers[0]
    assert status == 202
    assert body == b'{"accepted": true, "expires_in": 3600}'
    sent = await mails(sessions, tenant)
    assert [mail.to_address for mail in sent] == [known.email, known.email]
    assert {mail.template for mail in sent} == {"password_reset"}
    assert sent[0].subject == f"Reset your password for {tenant.name}"
    # A new request replaces the earlier link: only the last one works.
    first, last = token_in(sent[0]), token_in(sent[1])
    assert await code_of(await reset(client, tenant, first)) == "reset_invalid"
    assert (await reset(client, tenant, last)).status == 204


async def test_reset_sets_the_password_and_ends_every_session(
    client: Any, sessions: Sessions
) -> None:
    phone = await signed_in(client, sessions, Role.TECHNICIAN)
    laptop = await login(client, Account(phone.tenant, phone.user_id, phone.email, phone.role))
    token = await mailed_token(client, sessions, phone)
    assert (await reset(client, phone.tenant, token)).status == 204
    for session in (phone, laptop):
        me = await client.get("/auth/me", headers=session.headers)
        assert me.status == 401
        assert await code_of(me) == "session_revoked"
        again = await client.post("/auth/refresh", json={"refresh_token": session.refresh_token})
        assert again.status == 401
        assert await code_of(again) == "refresh_invalid"
    old = await client.post(
        "/auth/login",
        json={"email": phone.email, "password": PASSWORD},
        headers={"X-Tenant": phone.tenant.slug},
    )
    assert old.status == 401
    await login(client, phone, NEW_PASSWORD)
    async with TenantUnitOfWork(sessions, phone.tenant.id) as uow:
        actions = list(await uow.session.scalars(select(AuditEntry.action)))
    assert {"password_reset_requested", "password_reset"} <= set(actions)


async def test_a_token_works_once(client: Any, sessions: Sessions) -> None:
    account = await make_user(sessions, await make_tenant(sessions), Role.STAFF)
    token = await mailed_token(client, sessions, account)
    assert (await reset(client, account.tenant, token)).status == 204
    reused = await reset(client, account.tenant, token, "yet-another-passphrase")
    assert reused.status == 400
    assert await code_of(reused) == "reset_invalid"
    await login(client, account, NEW_PASSWORD)


async def test_an_expired_token_is_refused(client: Any, sessions: Sessions) -> None:
    account = await make_user(sessions, await make_tenant(sessions), Role.STAFF)
    token = await mailed_token(client, sessions, account)
    async with TenantUnitOfWork(sessions, account.tenant.id) as uow:
        row = await uow.session.scalar(
            select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
        )
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(hours=1)
        await uow.session.execute(
            update(PasswordReset)
            .where(PasswordReset.id == row.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()
    expired = await reset(client, account.tenant, token)
    assert expired.status == 400
    assert await code_of(expired) == "reset_invalid"
    await login(client, account, PASSWORD)


async def test_another_tenants_token_is_refused(client: Any, sessions: Sessions) -> None:
    mine = await make_user(sessions, await make_tenant(sessions), Role.STAFF)
    theirs = await make_user(sessions, await make_tenant(sessions), Role.STAFF)
    token = await mailed_token(client, sessions, theirs)
    wrong_tenant = await reset(client, mine.tenant, token)
    assert wrong_tenant.status == 400
    assert await code_of(wrong_tenant) == "reset_invalid"
    assert await mails(sessions, mine.tenant) == []  # nothing of theirs shows here
    await login(client, mine, PASSWORD)
    await login(client, theirs, PASSWORD)  # unchanged, and the token still theirs
    assert (await reset(client, theirs.tenant, token)).status == 204


async def test_the_policy_applies_and_arabic_is_spoken(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    account = await make_user(sessions, tenant, Role.TECHNICIAN, locale="ar")
    token = await mailed_token(client, sessions, account)
    mail = (await mails(sessions, tenant))[-1]
    assert mail.locale == "ar"
    assert "إعادة تعيين كلمة المرور" in mail.subject
    assert 'dir="rtl"' in mail.body_html
    short = await reset(client, tenant, token, "short")
    assert short.status == 422
    assert await code_of(short) == "password_policy"
    unknown = await client.post(
        "/auth/reset-password",
        json={"token": "x" * 43, "password": NEW_PASSWORD},
        headers={"X-Tenant": tenant.slug, "Accept-Language": "ar"},
    )
    body = await unknown.json(content_type=None)
    assert body["code"] == "reset_invalid"
    assert body["title"] == "لا يمكن استخدام إعادة تعيين كلمة المرور"
    assert "رابط" in body["detail"]
    assert (await reset(client, tenant, token)).status == 204  # the short try spent nothing


async def test_forgot_password_is_throttled_alike_for_unknown_emails(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, PASSWORD_RESET_RATE_LIMIT="2")
    client = await aiohttp_client(create_app(settings))
    tenant = await make_tenant(sessions)
    known = await make_user(sessions, tenant, Role.STAFF)
    for email in (known.email, "nobody@example.com"):
        for _ in range(2):
            assert (await forgot(client, tenant, email)).status == 202
        throttled = await forgot(client, tenant, email)
        assert throttled.status == 429
        assert await code_of(throttled) == "reset_throttled"
        assert int(throttled.headers["Retry-After"]) >= 1
    assert len(await mails(sessions, tenant)) == 2
    # The login of that account is not touched by its reset requests.
    await login(client, known, PASSWORD)


async def test_forgot_password_answers_before_it_looks_the_email_up(
    client: Any, sessions: Sessions
) -> None:
    """No timing side channel: known or not, the answer waits only for the throttle.
    The lookup, the token and the mail run afterwards as the mailer's deferred work."""
    tenant = await make_tenant(sessions)
    known = await make_user(sessions, tenant, Role.TECHNICIAN)
    app = client.app
    resets = PasswordResets(
        app[appkeys.SETTINGS], app[appkeys.SESSIONS], app[appkeys.AUTH], app[appkeys.MAILER]
    )
    ref = TenantRef.of(tenant)
    for email in (known.email, "nobody@example.com"):
        # The lookup is still to come when the caller gets its answer (the same path
        # for both emails) ...
        await resets.request_reset(NOWHERE, ref, email, "203.0.113.9")
        pending = [t for t in app[appkeys.MAILER]._work if not t.done()]
        assert [t.get_name() for t in pending] == ["password-reset-request"]
        await app[appkeys.MAILER].idle()  # ... it runs afterwards, owned by the mailer.
    assert [mail.to_address for mail in await mails(sessions, tenant)] == [known.email]
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        requested = list(
            await uow.session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "password_reset_requested")
            )
        )
    assert len(requested) == 2
    assert {"email": "nobody@example.com", "known": False} in requested


async def test_an_admin_sends_a_reset_within_the_tenant(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    outsider = await signed_in(client, sessions, Role.ADMIN)
    path = f"/users/{technician.user_id}/password-reset"
    refused = await client.post(path, headers=technician.headers)
    assert refused.status == 403
    cross = await client.post(path, headers=outsider.headers)
    assert cross.status == 404
    assert await code_of(cross) == "user_not_found"
    assert await mails(sessions, outsider.tenant) == []
    sent = await client.post(path, headers=admin.headers)
    assert sent.status == 202
    answer = await sent.json()
    assert answer["user_id"] == str(technician.user_id)
    mail = (await mails(sessions, admin.tenant))[-1]
    assert mail.to_address == technician.email
    assert "an administrator of" in mail.body_text
    assert token_in(mail) == answer["reset_token"]  # outside production only
    # Sending a reset ends no session; using it does.
    assert (await client.get("/auth/me", headers=technician.headers)).status == 200
    assert (await reset(client, admin.tenant, answer["reset_token"])).status == 204
    assert (await client.get("/auth/me", headers=technician.headers)).status == 401


async def test_the_operator_cli_sends_a_reset(
    database_url: str, tmp_path: Path, client: Any, sessions: Sessions
) -> None:
    account = await make_user(sessions, await make_tenant(sessions), Role.ADMIN)
    env = {
        **os.environ,
        "SYNCD_ENV": "test",
        "SYNCD_VAR_DIR": str(tmp_path / "cli-var"),
        "DATABASE_URL": database_url,
        "JWT_ACCESS_SECRET": "test-access-secret-" + "a" * 32,
        "JWT_REFRESH_SECRET": "test-refresh-secret-" + "b" * 32,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "warning",
    }
    env.pop("SMTP_URL", None)

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("syncd")), "reset-password", *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    status, out, err = await run(
        "--tenant", account.tenant.slug, "--email", account.email.upper(), "--print-token"
    )
    assert status == 0, err
    line, token = out.strip().splitlines()
    assert f"password reset for {account.email} in tenant '{account.tenant.slug}' queued" in line
    assert token_in((await mails(sessions, account.tenant))[-1]) == token
    assert (await reset(client, account.tenant, token)).status == 204
    await login(client, account, NEW_PASSWORD)
    status, _, err = await run("--tenant", account.tenant.slug, "--email", "nobody@example.com")
    assert status == 1
    assert "no user nobody@example.com in this tenant" in err
    status, _, err = await run("--tenant", "no-such-tenant", "--email", account.email)
    assert (status, err.strip()) == (1, "syncd: no tenant 'no-such-tenant'")
