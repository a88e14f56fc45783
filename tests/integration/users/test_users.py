"""Users: invite and accept, list and read, roles, (de)activation, password change.

Every endpoint also has a cross-tenant case: another tenant's admin sees and
changes nothing of this tenant's users.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, OutboxMail, Tenant, User, UserInvite
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin.audit import NOWHERE
from syncd.app import create_app
from syncd.auth.principal import Principal
from syncd.auth.ratelimit import MemoryLimiter
from syncd.auth.service import AuthService
from syncd.auth.tokens import token_hash
from syncd.users.service import UserService
from tests.support.factories import PASSWORD, Account, login, make_tenant, make_user, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "a-brand-new-passphrase"


async def invite(client: Any, admin: Account, email: str, **fields: Any) -> Any:
    body = {"email": email, "role": fields.pop("role", "staff"), **fields}
    return await client.post("/users/invite", json=body, headers=admin.headers)


async def invited(client: Any, admin: Account, email: str, **fields: Any) -> dict[str, Any]:
    response = await invite(client, admin, email, **fields)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def accept(client: Any, tenant: Tenant, token: str, password: str = PASSWORD) -> Any:
    return await client.post(
        "/auth/accept-invite",
        json={"token": token, "password": password},
        headers={"X-Tenant": tenant.slug},
    )


async def problem_code(response: Any) -> str:
    code: str = (await response.json(content_type=None))["code"]
    return code


async def outbox(sessions: Sessions, tenant: Tenant) -> list[OutboxMail]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        rows = list(await uow.session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))
        await uow.commit()  # keeps the rows loaded (a rollback would expire them)
    return rows


async def audit_entries(sessions: Sessions, tenant: Tenant) -> list[AuditEntry]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        entries = list(await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        await uow.commit()
    return entries


async def stored_user(sessions: Sessions, tenant: Tenant, user_id: uuid.UUID | str) -> User:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        user = await uow.session.get(User, (tenant.id, uuid.UUID(str(user_id))))
        await uow.commit()
    assert user is not None
    return user


# --- invite and accept -------------------------------------------------------------


async def test_invite_mails_in_the_invitees_language_then_accept_signs_in(
    client: Any, sessions: Sessions, settings: Any
) -> None:
    admin = await signed_in(client, sessions)
    answer = await invited(
        client, admin, "Noura@Example.com", role="technician", display_name="Noura", locale="ar"
    )
    assert answer["user"]["email"] == "noura@example.com"
    assert answer["user"]["status"] == "pending"
    assert answer["user"]["role"] == "technician"
    token = answer["invite_token"]
    # The expiry is the invite's issue time plus the TTL, as stored and as answered.
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        stored = (
            await uow.session.execute(
                select(UserInvite.created_at, UserInvite.expires_at).where(
                    UserInvite.token_hash == token_hash(token)
                )
            )
        ).one()
    assert stored.expires_at == stored.created_at + timedelta(seconds=settings.invite_ttl_s)
    assert datetime.fromisoformat(answer["invite"]["expires_at"]) == stored.expires_at
    english = await invited(client, admin, "sam@example.com")  # tenant locale: en

    mails = {mail.to_address: mail for mail in await outbox(sessions, admin.tenant)}
    arabic_mail, english_mail = mails["noura@example.com"], mails["sam@example.com"]
    assert arabic_mail.locale == "ar"
    assert arabic_mail.status == "pending"
    assert "مرحبًا Noura" in arabic_mail.body_text
    assert "فنيًا" in arabic_mail.body_text  # the role, in Arabic
    assert token in arabic_mail.body_text
    assert 'dir="rtl"' in arabic_mail.body_html
    assert english_mail.locale == "en"
    assert english_mail.subject.endswith(f"invited you to {admin.tenant.name}")
    assert english["invite_token"] in english_mail.body_text
    assert 'lang="en"' in english_mail.body_html
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        stored = set(await uow.session.scalars(select(UserInvite.token_hash)))
    assert stored == {token_hash(token), token_hash(english["invite_token"])}  # hashed only

    pending = await client.post(
        "/auth/login",
        json={"email": "noura@example.com", "password": PASSWORD},
        headers={"X-Tenant": admin.tenant.slug},
    )
    assert pending.status == 401
    accepted = await accept(client, admin.tenant, token)
    assert accepted.status == 200, await accepted.text()
    pair = await accepted.json()
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert (await me.json())["email"] == "noura@example.com"
    assert (await me.json())["role"] == "technician"
    newcomer = Account(
        admin.tenant, uuid.UUID(answer["user"]["id"]), "noura@example.com", Role.TECHNICIAN
    )
    await login(client, newcomer)
    user = await stored_user(sessions, admin.tenant, answer["user"]["id"])
    assert user.status == "active"
    actions = [entry.action for entry in await audit_entries(sessions, admin.tenant)]
    assert actions.count("user_invited") == 2
    assert "invite_accepted" in actions


async def test_tenant_locale_decides_when_the_invitee_has_none(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions, locale="ar")
    admin = await signed_in(client, sessions, tenant=tenant)
    await invited(client, admin, "a@example.com")
    await invited(client, admin, "b@example.com", locale="en")
    locales = {mail.to_address: mail.locale for mail in await outbox(sessions, tenant)}
    assert locales == {"a@example.com": "ar", "b@example.com": "en"}


async def test_accept_sets_the_display_name(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    answer = await invited(client, admin, "kim@example.com")
    response = await client.post(
        "/auth/accept-invite",
        json={"token": answer["invite_token"], "password": PASSWORD, "display_name": "Kim L."},
        headers={"X-Tenant": admin.tenant.slug},
    )
    assert response.status == 200
    assert (await stored_user(sessions, admin.tenant, answer["user"]["id"])).display_name == (
        "Kim L."
    )


async def test_an_existing_email_is_a_conflict(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    await invited(client, admin, "dup@example.com")
    again = await invite(client, admin, "DUP@example.com")
    assert again.status == 409
    assert await problem_code(again) == "user_exists"
    existing = await invite(client, admin, admin.email)
    assert await problem_code(existing) == "user_exists"


async def test_spent_expired_revoked_and_unknown_invites_are_refused(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    spent = (await invited(client, admin, "spent@example.com"))["invite_token"]
    assert (await accept(client, admin.tenant, spent)).status == 200
    expired = await invited(client, admin, "expired@example.com")
    revoked = await invited(client, admin, "revoked@example.com")
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        await uow.session.execute(
            update(UserInvite)
            .where(UserInvite.id == uuid.UUID(expired["invite"]["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.session.execute(
            update(UserInvite)
            .where(UserInvite.id == uuid.UUID(revoked["invite"]["id"]))
            .values(revoked_at=datetime.now(UTC))
        )
        await uow.commit()
    for token in (
        spent,
        expired["invite_token"],
        revoked["invite_token"],
        "an-unknown-token-of-some-length",
    ):
        response = await accept(client, admin.tenant, token, NEW_PASSWORD)
        assert response.status == 400, token
        assert await problem_code(response) == "invite_invalid"
    # The spent invite did not change the password it set.
    await login(client, Account(admin.tenant, uuid.uuid4(), "spent@example.com", Role.STAFF))


async def test_a_deactivated_invitee_cannot_accept_until_reactivated(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    answer = await invited(client, admin, "paused@example.com")
    user_id = answer["user"]["id"]
    await client.post(f"/users/{user_id}/deactivate", headers=admin.headers)
    refused = await accept(client, admin.tenant, answer["invite_token"])
    assert await problem_code(refused) == "invite_invalid"
    reactivated = await client.post(f"/users/{user_id}/activate", headers=admin.headers)
    assert (await reactivated.json())["status"] == "pending"  # no password yet
    assert (await accept(client, admin.tenant, answer["invite_token"])).status == 200


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "Aa1!" * 19,  # 76 bytes: over bcrypt's 72
        "ش" * 40,  # 40 characters but 80 bytes in UTF-8
    ],
)
async def test_accept_applies_the_password_policy(
    client: Any, sessions: Sessions, password: str
) -> None:
    admin = await signed_in(client, sessions)
    token = (await invited(client, admin, "policy@example.com"))["invite_token"]
    response = await accept(client, admin.tenant, token, password)
    assert response.status == 422
    body = await response.json(content_type=None)
    assert body["code"] == "password_policy"
    assert body["errors"][0]["field"] == "password"
    assert (await accept(client, admin.tenant, token)).status == 200  # the invite is unspent


async def test_no_invite_token_in_production_answers(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(
        tmp_path,
        DATABASE_URL=database_url,
        SYNCD_ENV="production",
        JWT_ACCESS_SECRET="p" * 40,
        JWT_REFRESH_SECRET="q" * 40,
    )
    client = await aiohttp_client(create_app(settings))
    admin = await signed_in(client, sessions)
    answer = await invited(client, admin, "prod@example.com")
    assert "invite_token" not in answer
    assert set(answer) == {"user", "invite"}
    (mail,) = await outbox(sessions, admin.tenant)
    assert mail.to_address == "prod@example.com"  # the mail is how the token travels


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "x@example.com", "role": "boss"}, "validation_failed"),
        ({"email": "not-an-email", "role": "staff"}, "validation_failed"),
        ({"email": "x@example.com", "role": "staff", "locale": "fr"}, "validation_failed"),
        ({"email": "x@example.com", "role": "staff", "admin": True}, "validation_failed"),
        ({"role": "staff"}, "validation_failed"),
    ],
)
async def test_bad_invites_are_422(
    client: Any, sessions: Sessions, body: dict[str, Any], code: str
) -> None:
    admin = await signed_in(client, sessions)
    response = await client.post("/users/invite", json=body, headers=admin.headers)
    assert response.status == 422
    assert await problem_code(response) == code
    assert await outbox(sessions, admin.tenant) == []


async def test_bodies_must_be_json(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    form = await client.post("/users/invite", data="email=x", headers=admin.headers)
    assert form.status == 415
    assert await problem_code(form) == "unsupported_media_type"
    broken = await client.post(
        "/users/invite",
        data=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert await problem_code(broken) == "malformed_json"
    no_tenant = await client.post("/auth/accept-invite", json={"token": "x" * 20, "password": "y"})
    assert await problem_code(no_tenant) == "tenant_required"


# --- list and read ---------------------------------------------------------------


async def list_ids(client: Any, account: Account, query: str = "") -> list[str]:
    response = await client.get(f"/users{query}", headers=account.headers)
    assert response.status == 200, await response.text()
    return [item["id"] for item in (await response.json())["items"]]


async def test_list_filters(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, tenant=tenant)
    tech = await make_user(
        sessions, tenant, Role.TECHNICIAN, email="field.tech@example.com", display_name="Omar"
    )
    staff = await make_user(sessions, tenant, Role.STAFF, display_name="Dana 100%_sure")
    gone = await make_user(sessions, tenant, Role.STAFF, status="inactive")
    pending = (await invited(client, admin, "new@example.com", role="technician"))["user"]["id"]
    assert set(await list_ids(client, admin, "?role=technician")) == {str(tech.user_id), pending}
    assert await list_ids(client, admin, "?status=inactive") == [str(gone.user_id)]
    assert await list_ids(client, admin, "?status=pending&role=technician") == [pending]
    assert await list_ids(client, admin, "?q=FIELD.T") == [str(tech.user_id)]
    assert await list_ids(client, admin, "?q=omar") == [str(tech.user_id)]
    assert await list_ids(client, admin, "?q=100%25_") == [str(staff.user_id)]  # literal % _
    assert await list_ids(client, admin, "?q=0%25") == [str(staff.user_id)]
    assert await list_ids(client, admin, "?q=nobody-like-this") == []
    everyone = await client.get("/users", headers=admin.headers)
    items = (await everyone.json())["items"]
    assert len(items) == 5
    assert (await everyone.json())["next_cursor"] is None
    assert {"password_hash", "tenant_id"}.isdisjoint(items[0])
    for query, field in [("?role=boss", "role"), ("?status=gone", "status"), ("?limit=0", "limit")]:
        response = await client.get(f"/users{query}", headers=admin.headers)
        assert response.status == 422, query
        body = await response.json(content_type=None)
        assert body["errors"][0]["field"] == field
    bad_cursor = await client.get("/users?cursor=bm9wZQ", headers=admin.headers)
    assert await problem_code(bad_cursor) == "invalid_cursor"


async def test_list_pages_through_everyone_once(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, tenant=tenant)
    made = [str(admin.user_id)]
    for index in range(6):
        made.append(
            str((await make_user(sessions, tenant, Role.STAFF, display_name=f"u{index}")).user_id)
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/users{query}", headers=admin.headers)
        body = await response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == 2
    assert seen == made  # creation order, no duplicate, nobody missing
    assert pages == 4
    filtered = await client.get("/users?limit=2&role=staff", headers=admin.headers)
    second = await client.get(
        f"/users?limit=10&role=staff&cursor={(await filtered.json())['next_cursor']}",
        headers=admin.headers,
    )
    assert [i["id"] for i in (await second.json())["items"]] == made[3:]


async def test_read_one_user(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    response = await client.get(f"/users/{admin.user_id}", headers=staff.headers)
    assert response.status == 200
    body = await response.json()
    assert body["email"] == admin.email
    assert body["role"] == "admin"
    assert body["status"] == "active"
    assert body["last_login_at"] is not None
    for missing in (uuid.uuid4(), "not-a-uuid"):
        response = await client.get(f"/users/{missing}", headers=staff.headers)
        assert response.status == 404
        assert await problem_code(response) == "user_not_found"


async def test_technicians_cannot_list_and_staff_cannot_manage(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    assert (await client.get("/users", headers=tech.headers)).status == 403
    assert (await client.get("/users", headers=staff.headers)).status == 200
    refused = await invite(client, staff, "x@example.com")
    assert refused.status == 403
    assert await problem_code(refused) == "permission_denied"
    demote = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=staff.headers
    )
    assert demote.status == 403


# --- roles -----------------------------------------------------------------------


async def test_role_change_takes_effect_at_once(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    assert (await client.get("/users", headers=staff.headers)).status == 200
    response = await client.patch(
        f"/users/{staff.user_id}/role", json={"role": "technician"}, headers=admin.headers
    )
    assert response.status == 200
    assert (await response.json())["role"] == "technician"
    # The same access token now carries the technician's rights.
    assert (await client.get("/users", headers=staff.headers)).status == 403
    (entry,) = [
        e for e in await audit_entries(sessions, admin.tenant) if e.action == "role_changed"
    ]
    assert entry.details == {"old": "staff", "new": "technician"}
    assert entry.actor_id == admin.user_id
    assert entry.target_id == str(staff.user_id)
    same = await client.patch(
        f"/users/{staff.user_id}/role", json={"role": "technician"}, headers=admin.headers
    )
    assert same.status == 200
    actions = [e.action for e in await audit_entries(sessions, admin.tenant)]
    assert actions.count("role_changed") == 1  # no change, no entry


async def test_the_last_admin_keeps_the_role(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    refused = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert refused.status == 409
    assert await problem_code(refused) == "last_admin"
    # An inactive admin does not count.
    await make_user(sessions, admin.tenant, Role.ADMIN, status="inactive")
    again = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert await problem_code(again) == "last_admin"
    other = await make_user(sessions, admin.tenant, Role.ADMIN)
    stepped_down = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert stepped_down.status == 200
    assert (await stored_user(sessions, admin.tenant, admin.user_id)).role == "staff"
    assert (await stored_user(sessions, admin.tenant, other.user_id)).role == "admin"


async def lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def wait_for_lock_waiters(engine: AsyncEngine, count: int, timeout_s: float = 10) -> None:
    """Poll PostgreSQL (nothing to subscribe to) until `count` sessions wait on a lock."""
    for _ in range(int(timeout_s / 0.01)):
        if await lock_waiters(engine) >= count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"fewer than {count} transactions waited on a lock within {timeout_s} s")


async def test_two_admins_demoting_each_other_at_once_leave_one(
    sessions: Sessions, settings: Any, engine: AsyncEngine
) -> None:
    # Straight to the service, so both calls are past the permission check; the
    # test holds the admin rows until both are waiting, then lets them race.
    tenant = await make_tenant(sessions)
    first = await make_user(sessions, tenant, Role.ADMIN)
    second = await make_user(sessions, tenant, Role.ADMIN)
    service = UserService(settings, sessions, AuthService(settings, sessions, MemoryLimiter(60)))

    def who(account: Account) -> Principal:
        return Principal(account.user_id, tenant.id, Role.ADMIN, uuid.uuid4(), account.email)

    async with TenantUnitOfWork(sessions, tenant.id) as holder:
        # On SQLite BEGIN IMMEDIATE already holds the write lock.
        await holder.session.execute(select(User.id).with_for_update())
        racing = asyncio.gather(
            service.change_role(NOWHERE, who(first), second.user_id, Role.STAFF),
            service.change_role(NOWHERE, who(second), first.user_id, Role.STAFF),
            return_exceptions=True,
        )
        if engine.dialect.name == "postgresql":
            await wait_for_lock_waiters(engine, 2)
        await holder.commit()
    outcomes = await racing
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LastAdmin", "UserInfo"]
    roles = {(await stored_user(sessions, tenant, a.user_id)).role for a in (first, second)}
    assert roles == {"admin", "staff"}


async def test_bad_role_bodies(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await make_user(sessions, admin.tenant, Role.STAFF)
    for body in ({}, {"role": "owner"}, {"role": "staff", "extra": 1}):
        response = await client.patch(
            f"/users/{staff.user_id}/role", json=body, headers=admin.headers
        )
        assert response.status == 422
        assert await problem_code(response) == "validation_failed"
    missing = await client.patch(
        f"/users/{uuid.uuid4()}/role", json={"role": "staff"}, headers=admin.headers
    )
    assert await problem_code(missing) == "user_not_found"


# --- deactivation ----------------------------------------------------------------


async def test_deactivation_ends_every_session_at_once(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    worker = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    first_refresh, first_headers = worker.refresh_token, dict(worker.headers)
    await login(client, worker)  # a second device
    response = await client.post(f"/users/{worker.user_id}/deactivate", headers=admin.headers)
    assert response.status == 200
    assert (await response.json())["status"] == "inactive"
    for headers in (first_headers, worker.headers):
        me = await client.get("/auth/me", headers=headers)
        assert me.status == 401
        assert await problem_code(me) == "session_revoked"
    for token in (first_refresh, worker.refresh_token):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": token})
        assert refreshed.status == 401
        assert await problem_code(refreshed) == "refresh_invalid"
    relogin = await client.post(
        "/auth/login",
        json={"email": worker.email, "password": PASSWORD},
        headers={"X-Tenant": admin.tenant.slug},
    )
    assert relogin.status == 401
    assert (await stored_user(sessions, admin.tenant, worker.user_id)).status == "inactive"

    back = await client.post(f"/users/{worker.user_id}/activate", headers=admin.headers)
    assert (await back.json())["status"] == "active"
    await login(client, worker)
    assert (await client.get("/auth/me", headers=worker.headers)).status == 200
    actions = [e.action for e in await audit_entries(sessions, admin.tenant)]
    assert actions.count("user_deactivated") == 1
    assert actions.count("user_activated") == 1


async def test_deactivation_refusals(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    myself = await client.post(f"/users/{admin.user_id}/deactivate", headers=admin.headers)
    assert myself.status == 409
    assert await problem_code(myself) == "self_deactivation"
    assert (await client.get("/auth/me", headers=admin.headers)).status == 200
    for action in ("deactivate", "activate"):
        missing = await client.post(f"/users/{uuid.uuid4()}/{action}", headers=admin.headers)
        assert missing.status == 404
        assert await problem_code(missing) == "user_not_found"


class RecordingCloser:
    """A SessionCloser that remembers whom it was asked to disconnect."""

    def __init__(self) -> None:
        self.closed: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        self.closed.append((tenant_id, user_id))
        return 1


async def test_deactivation_closes_live_connections_through_the_hook(
    sessions: Sessions, settings: Any
) -> None:
    tenant = await make_tenant(sessions)
    admin = await make_user(sessions, tenant, Role.ADMIN)
    staff = await make_user(sessions, tenant, Role.STAFF)
    closer = RecordingCloser()
    auth = AuthService(settings, sessions, MemoryLimiter(60))
    service = UserService(settings, sessions, auth, closer=closer)
    who = Principal(admin.user_id, tenant.id, Role.ADMIN, uuid.uuid4(), admin.email)
    await service.deactivate(NOWHERE, who, staff.user_id)
    await service.deactivate(NOWHERE, who, staff.user_id)  # already inactive: nothing to close
    assert closer.closed == [(tenant.id, staff.user_id)]


# --- password --------------------------------------------------------------------


async def change_password(client: Any, account: Account, current: str, new: str) -> Any:
    return await client.post(
        "/users/me/password",
        json={"current_password": current, "new_password": new},
        headers=account.headers,
    )


async def test_password_change_keeps_this_session_and_ends_the_others(
    client: Any, sessions: Sessions
) -> None:
    me = await signed_in(client, sessions, Role.TECHNICIAN)
    other_headers, other_refresh = dict(me.headers), me.refresh_token
    await login(client, me)  # this session
    response = await change_password(client, me, PASSWORD, NEW_PASSWORD)
    assert response.status == 204
    assert (await client.get("/auth/me", headers=me.headers)).status == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": me.refresh_token})
    assert refreshed.status == 200
    stale = await client.get("/auth/me", headers=other_headers)
    assert await problem_code(stale) == "session_revoked"
    dead = await client.post("/auth/refresh", json={"refresh_token": other_refresh})
    assert dead.status == 401
    old = await client.post(
        "/auth/login",
        json={"email": me.email, "password": PASSWORD},
        headers={"X-Tenant": me.tenant.slug},
    )
    assert old.status == 401
    await login(client, me, NEW_PASSWORD)
    actions = [e.action for e in await audit_entries(sessions, me.tenant)]
    assert actions.count("password_changed") == 1


async def test_password_change_refusals(client: Any, sessions: Sessions) -> None:
    me = await signed_in(client, sessions, Role.STAFF)
    wrong = await change_password(client, me, "not-my-password", NEW_PASSWORD)
    assert wrong.status == 401
    assert await problem_code(wrong) == "invalid_credentials"
    for new in ("short", "ش" * 40, PASSWORD):
        response = await change_password(client, me, PASSWORD, new)
        assert response.status == 422, new
        body = await response.json(content_type=None)
        assert body["code"] == "password_policy"
        assert body["errors"][0]["field"] == "new_password"
    missing = await client.post("/users/me/password", json={}, headers=me.headers)
    assert await problem_code(missing) == "validation_failed"
    await login(client, me)  # still the old password


async def test_password_guessing_is_throttled(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, LOGIN_RATE_LIMIT="2")
    client = await aiohttp_client(create_app(settings))
    me = await signed_in(client, sessions, Role.STAFF)
    for _ in range(2):
        assert (await change_password(client, me, "guess-guess-1", NEW_PASSWORD)).status == 401
    throttled = await change_password(client, me, PASSWORD, NEW_PASSWORD)
    assert throttled.status == 429
    assert "Retry-After" in throttled.headers


# --- other tenants ---------------------------------------------------------------


async def two_tenants(client: Any, sessions: Sessions) -> tuple[Account, Account, Account]:
    """(admin of A, a staff member of A, admin of B)."""
    admin_a = await signed_in(client, sessions)
    staff_a = await signed_in(client, sessions, Role.STAFF, tenant=admin_a.tenant)
    admin_b = await signed_in(client, sessions)
    return admin_a, staff_a, admin_b


async def test_another_tenant_lists_and_reads_nothing(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    assert await list_ids(client, admin_b) == [str(admin_b.user_id)]
    assert await list_ids(client, admin_b, f"?q={staff_a.email}") == []
    read = await client.get(f"/users/{staff_a.user_id}", headers=admin_b.headers)
    assert read.status == 404
    assert await problem_code(read) == "user_not_found"
    # B's token naming tenant A is refused outright.
    crossed = {"Authorization": f"Bearer {admin_b.access_token}", "X-Tenant": admin_a.tenant.slug}
    for path in ("/users", f"/users/{staff_a.user_id}"):
        response = await client.get(path, headers=crossed)
        assert response.status == 403
        assert await problem_code(response) == "tenant_mismatch"


async def test_another_tenant_changes_nothing(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    role = await client.patch(
        f"/users/{staff_a.user_id}/role", json={"role": "admin"}, headers=admin_b.headers
    )
    deactivated = await client.post(f"/users/{staff_a.user_id}/deactivate", headers=admin_b.headers)
    activated = await client.post(f"/users/{staff_a.user_id}/activate", headers=admin_b.headers)
    for response in (role, deactivated, activated):
        assert response.status == 404
        assert await problem_code(response) == "user_not_found"
    user = await stored_user(sessions, admin_a.tenant, staff_a.user_id)
    assert (user.role, user.status) == ("staff", "active")
    assert (await client.get("/auth/me", headers=staff_a.headers)).status == 200
    crossed = {"Authorization": f"Bearer {admin_b.access_token}", "X-Tenant": admin_a.tenant.slug}
    for method, path, body in [
        ("PATCH", f"/users/{staff_a.user_id}/role", {"role": "admin"}),
        ("POST", f"/users/{staff_a.user_id}/deactivate", None),
        ("POST", "/users/invite", {"email": "x@example.com", "role": "admin"}),
        ("POST", "/users/me/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ]:
        response = await client.request(method, path, json=body, headers=crossed)
        assert response.status == 403, path
    assert {e.action for e in await audit_entries(sessions, admin_a.tenant)} == {"login"}


async def test_invites_stay_in_their_tenant(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    # The same email may be a user of both tenants: B's invite is B's alone.
    answer = await invited(client, admin_b, staff_a.email)
    assert [m.to_address for m in await outbox(sessions, admin_b.tenant)] == [staff_a.email]
    assert await outbox(sessions, admin_a.tenant) == []
    a_token = (await invited(client, admin_a, "only-a@example.com"))["invite_token"]
    # A's token presented to tenant B (and B's to A) is unknown there.
    for tenant, token in ((admin_b.tenant, a_token), (admin_a.tenant, answer["invite_token"])):
        response = await accept(client, tenant, token)
        assert await problem_code(response) == "invite_invalid"
    assert (await accept(client, admin_a.tenant, a_token)).status == 200
    assert (await accept(client, admin_b.tenant, answer["invite_token"])).status == 200
    a_user = await stored_user(sessions, admin_a.tenant, staff_a.user_id)
    assert a_user.role == "staff"  # B's invite touched nothing of A's user
