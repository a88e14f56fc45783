"""docs/api.md is a contract: the examples of its Authentication, Users, Tenant
and branding and Media sections are sent as they stand and their answers
compared (see tests/support/api_doc.py for how `<name>` values are read). Each run
also proves another tenant's token sees nothing of what the examples made."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import OutboxMail
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from tests.support.api_doc import Exchange
from tests.support.factories import login, make_tenant, make_user, signed_in
from tests.support.media import photo, png

Sessions = async_sessionmaker[AsyncSession]
ACME = "Acme Field Services"


async def acme(client: Any, sessions: Sessions) -> tuple[Any, Exchange]:
    tenant = await make_tenant(sessions, name=ACME)
    amal = await login(client, await make_user(sessions, tenant, Role.ADMIN, "amal@acme.example"))
    exchange = Exchange(client, tenant.slug)
    exchange.values.update(
        {
            "access token": amal.access_token,
            "amal's id": str(amal.user_id),
            "tenant id": str(tenant.id),
        }
    )
    return amal, exchange


async def test_the_authentication_examples(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions, name=ACME)
    await make_user(sessions, tenant, Role.ADMIN, "amal@acme.example")
    exchange = Exchange(client, tenant.slug)

    async def token_from_the_mail() -> str:
        await client.app[appkeys.MAILER].idle()  # forgot-password queues it after answering
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            mail = await uow.session.scalar(
                select(OutboxMail)
                .where(OutboxMail.template == "password_reset")
                .order_by(OutboxMail.created_at.desc())
            )
            assert mail is not None
            assert mail.to_address == "sami@acme.example"
            found = re.search(r"#token=([\w-]+)", mail.body_text)
            assert found is not None
            return found[1]

    exchange.resolvers["token from the mail"] = token_from_the_mail
    await exchange.run("Authentication")
    assert exchange.values["tenant id"] == str(tenant.id)
    # The unknown email got no mail; Sami got one invitation and one reset.
    await client.app[appkeys.MAILER].idle()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        sent = [(m.template, m.to_address) for m in await uow.session.scalars(select(OutboxMail))]
    assert sorted(sent) == [
        ("invite", "sami@acme.example"),
        ("password_reset", "sami@acme.example"),
    ]
    # Another tenant's admin sees none of it.
    other = await signed_in(client, sessions, Role.ADMIN)
    users = await (await client.get("/users", headers=other.headers)).json()
    assert [u["email"] for u in users["items"]] == [other.email]
    sami_id = exchange.values["sami's id"]
    sami = await client.get(f"/users/{sami_id}", headers=other.headers)
    assert sami.status == 404


async def test_the_users_examples(client: Any, sessions: Sessions) -> None:
    amal, exchange = await acme(client, sessions)
    sami = await make_user(
        sessions,
        amal.tenant,
        Role.TECHNICIAN,
        "sami@acme.example",
        display_name="Sami",
        locale="ar",
    )
    elsewhere = await make_user(sessions, await make_tenant(sessions), Role.TECHNICIAN)
    exchange.values.update(
        {"sami's id": str(sami.user_id), "another tenant's user id": str(elsewhere.user_id)}
    )
    await exchange.run("Users")
    other = await signed_in(client, sessions, Role.ADMIN, tenant=elsewhere.tenant)
    crossed = await client.post(f"/users/{sami.user_id}/password-reset", headers=other.headers)
    assert crossed.status == 404


async def test_the_tenant_and_branding_examples(client: Any, sessions: Sessions) -> None:
    _, exchange = await acme(client, sessions)
    logo = png()

    async def logo_bytes() -> bytes:
        return logo

    exchange.resolvers["the logo's bytes"] = logo_bytes
    await exchange.run("Tenant and branding")
    other = await signed_in(client, sessions, Role.ADMIN)
    theirs = await (await client.get("/tenant", headers=other.headers)).json()
    assert theirs["id"] == str(other.tenant.id)
    assert theirs["branding"]["logo_url"] is None
    assert (await client.get("/tenant/logo", headers=other.headers)).status == 404


async def test_the_media_examples(client: Any, sessions: Sessions, app: Any) -> None:
    amal, exchange = await acme(client, sessions)
    task_id = str(uuid.uuid4())
    made = await client.post(
        "/tasks", json={"id": task_id, "title": "Replace pump seal"}, headers=amal.headers
    )
    assert made.status == 201
    picture = photo((640, 480))
    exchange.values.update(
        {
            "task id": task_id,
            "media id": str(uuid.uuid4()),
            "the photo's bytes": picture,
            "size": len(picture),
            "sha256": hashlib.sha256(picture).hexdigest(),
        }
    )

    async def jobs_done() -> None:  # the thumbnail is a background job
        await app[appkeys.JOBS].drain()

    exchange.before_each = jobs_done
    await exchange.run("Media (photos and documents)")
    other = await signed_in(client, sessions, Role.ADMIN)
    media_id = exchange.values["media id"]
    for path in (f"/media/{media_id}", f"/media/{media_id}/thumbnail"):
        assert (await client.get(path, headers=other.headers)).status == 404
