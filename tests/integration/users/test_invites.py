"""Users: invite (mail in the invitee's language) and accept, with every refusal
of an invite and of its body.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from protocol.roles import Role
from storage.models import UserInvite
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from syncd.auth.tokens import token_hash
from tests.support.factories import PASSWORD, Account, login, make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.users import (
    NEW_PASSWORD,
    Sessions,
    accept,
    audit_entries,
    invite,
    invited,
    outbox,
    problem_code,
    stored_user,
)


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
