"""Mail: templates in English and Arabic, the outbox, and delivery to a real SMTP server.

The SMTP server is aiosmtpd, listening on a free loopback port for the test.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import tomllib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import OutboxMail, Tenant
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.mail import MAX_ATTEMPTS, Mailer, enqueue, mail_locale, render, send_pending
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]

CONTEXT: dict[str, object] = {
    "name": "<script>alert(1)</script>",
    "inviter": "Layla & Co",
    "tenant_name": "Acme Field Services",
    "role": "technician",
    "token": "tok-123",
    "accept_url": "https://acme.example.com/accept-invite#token=tok-123",
    "expires_at": "2026-12-01 10:00 UTC",
}


# --- templates ---------------------------------------------------------------------


def test_english_rendering() -> None:
    mail = render("invite", "en", CONTEXT)
    assert mail.subject == "Layla & Co invited you to Acme Field Services"
    assert "Hello <script>alert(1)</script>," in mail.text  # plain text is not HTML
    assert "as a technician" in mail.text
    assert "tok-123" in mail.text
    assert "2026-12-01 10:00 UTC" in mail.text
    assert '<html lang="en" dir="ltr">' in mail.html
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "Layla &amp; Co" in mail.html
    assert 'href="https://acme.example.com/accept-invite#token=tok-123"' in mail.html


def test_arabic_rendering() -> None:
    mail = render("invite", "ar", CONTEXT)
    assert mail.locale == "ar"
    assert mail.subject == "دعوة من Layla & Co للانضمام إلى Acme Field Services"
    assert "مرحبًا <script>alert(1)</script>،" in mail.text
    assert "فنيًا" in mail.text  # "as a technician"
    assert "tok-123" in mail.text
    assert '<html lang="ar" dir="rtl">' in mail.html
    assert "<script>" not in mail.html
    assert "مرحبًا &lt;script&gt;alert(1)&lt;/script&gt;،" in mail.html


def test_subject_is_one_line() -> None:
    mail = render("invite", "en", {**CONTEXT, "tenant_name": "Evil\r\nBcc: x@example.com"})
    assert "\n" not in mail.subject
    assert "\r" not in mail.subject


def test_missing_values_and_locales_are_errors() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("invite", "en", {k: v for k, v in CONTEXT.items() if k != "token"})
    with pytest.raises(ValueError, match="locale"):
        render("invite", "fr", CONTEXT)


def test_locale_choice() -> None:
    assert mail_locale("ar", "en") == "ar"
    assert mail_locale(None, "ar") == "ar"
    assert mail_locale("fr", None) == "en"
    assert mail_locale(None, None) == "en"


def test_templates_are_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert "templates/mail/*" in pyproject["tool"]["setuptools"]["package-data"]["syncd"]
    folder = Path(__file__).parents[3] / "syncd" / "templates" / "mail"
    names = {path.name for path in folder.iterdir()}
    for locale in ("en", "ar"):
        for kind in ("subject.txt", "txt", "html"):
            assert f"invite.{locale}.{kind}" in names


# --- a real SMTP server ----------------------------------------------------------


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()


async def outbox(sessions: Sessions, tenant: Tenant) -> list[OutboxMail]:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        rows = list(await uow.session.scalars(select(OutboxMail).order_by(OutboxMail.created_at)))
        await uow.commit()
    return rows


async def queue_mail(sessions: Sessions, tenant: Tenant, to: str, locale: str = "en") -> None:
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        enqueue(uow.session, to, render("invite", locale, CONTEXT))
        await uow.commit()


async def test_an_invite_is_delivered_by_smtp(
    database_url: str,
    tmp_path: Path,
    aiohttp_client: Any,
    sessions: Sessions,
    smtp_server: tuple[Inbox, str],
) -> None:
    inbox, url = smtp_server
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, SMTP_URL=url, MAIL_FROM="syncd <mail@acme.example>"
    )
    app = create_app(settings)
    client = await aiohttp_client(app)
    tenant = await make_tenant(sessions, locale="ar")
    admin = await signed_in(client, sessions, tenant=tenant)
    address = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/users/invite",
        json={"email": address, "role": "staff", "display_name": "<b>Rami</b>"},
        headers=admin.headers,
    )
    assert response.status == 201
    token = (await response.json())["invite_token"]
    await asyncio.wait_for(app[appkeys.MAILER].idle(), timeout=30)

    (message,) = inbox.to(address)
    assert message["From"] == "syncd <mail@acme.example>"
    assert message["Subject"] == f"دعوة من {admin.email} للانضمام إلى {tenant.name}"
    assert message["Content-Language"] == "ar"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "مرحبًا <b>Rami</b>" in text.get_content()
    assert token in text.get_content()
    assert "&lt;b&gt;Rami&lt;/b&gt;" in html.get_content()
    (row,) = await outbox(sessions, tenant)
    assert (row.status, row.attempts, row.error) == ("sent", 1, None)
    assert row.sent_at is not None


async def test_send_pending_delivers_one_tenants_mail(
    settings: Any, sessions: Sessions, smtp_server: tuple[Inbox, str]
) -> None:
    inbox, url = smtp_server
    tenant = await make_tenant(sessions)
    other = await make_tenant(sessions)
    await queue_mail(sessions, tenant, "one@example.com")
    await queue_mail(sessions, tenant, "two@example.com", "ar")
    await queue_mail(sessions, other, "elsewhere@example.com")
    with_smtp = settings.model_copy(update={"smtp_url": url})
    assert await send_pending(sessions, with_smtp, tenant_id=tenant.id) == 2
    assert [m["To"] for m in inbox.messages] == ["one@example.com", "two@example.com"]
    assert {m.status for m in await outbox(sessions, tenant)} == {"sent"}
    assert [m.status for m in await outbox(sessions, other)] == ["pending"]
    # Nothing left to send: a second run sends nothing twice.
    assert await send_pending(sessions, with_smtp, tenant_id=tenant.id) == 0
    assert len(inbox.messages) == 2


async def test_without_smtp_mail_stays_in_the_outbox(
    settings: Any, sessions: Sessions, client: Any
) -> None:
    assert settings.smtp_url is None
    admin = await signed_in(client, sessions, Role.ADMIN)
    await client.post(
        "/users/invite", json={"email": "later@example.com", "role": "staff"}, headers=admin.headers
    )
    assert await send_pending(sessions, settings) == 0
    (row,) = await outbox(sessions, admin.tenant)
    assert (row.status, row.attempts) == ("pending", 0)


async def test_a_down_server_is_recorded_and_retried_then_given_up(
    settings: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    await queue_mail(sessions, tenant, "retry@example.com")
    down = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    assert await send_pending(sessions, down, tenant_id=tenant.id) == 0
    (row,) = await outbox(sessions, tenant)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.error is not None
    assert "ConnectionRefusedError" in row.error
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        await uow.session.execute(update(OutboxMail).values(attempts=MAX_ATTEMPTS - 1))
        await uow.commit()
    await send_pending(sessions, down, tenant_id=tenant.id)
    (row,) = await outbox(sessions, tenant)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    # A failed mail is not tried again.
    assert await send_pending(sessions, down, tenant_id=tenant.id) == 0
    (row,) = await outbox(sessions, tenant)
    assert row.attempts == MAX_ATTEMPTS


async def test_a_refused_recipient_is_that_mails_error_only(
    settings: Any, sessions: Sessions, smtp_server: tuple[Inbox, str]
) -> None:
    inbox, url = smtp_server
    tenant = await make_tenant(sessions)
    await queue_mail(sessions, tenant, "fine@example.com")
    await queue_mail(sessions, tenant, "refused@example.com")
    await queue_mail(sessions, tenant, "also-fine@example.com")
    with_smtp = settings.model_copy(update={"smtp_url": url})
    assert await send_pending(sessions, with_smtp, tenant_id=tenant.id) == 2
    rows = {m.to_address: m for m in await outbox(sessions, tenant)}
    assert {address: row.status for address, row in rows.items()} == {
        "fine@example.com": "sent",
        "refused@example.com": "pending",
        "also-fine@example.com": "sent",
    }
    assert "550" in (rows["refused@example.com"].error or "")
    assert sorted(m["To"] for m in inbox.messages) == ["also-fine@example.com", "fine@example.com"]


async def test_the_mailer_owns_its_sends(
    settings: Any, sessions: Sessions, smtp_server: tuple[Inbox, str]
) -> None:
    inbox, url = smtp_server
    tenant = await make_tenant(sessions)
    address = f"owned-{uuid.uuid4().hex[:8]}@example.com"
    await queue_mail(sessions, tenant, address)
    mailer = Mailer(sessions, settings.model_copy(update={"smtp_url": url}))
    mailer.kick()
    mailer.kick()  # joins the running send instead of starting a second one
    await asyncio.wait_for(mailer.idle(), timeout=30)
    assert len(inbox.to(address)) == 1
    await mailer.close()
    await queue_mail(sessions, tenant, address)
    mailer.kick()  # closed: nothing starts
    await mailer.idle()
    assert len(inbox.to(address)) == 1
    assert [m.status for m in await outbox(sessions, tenant)] == ["sent", "pending"]
