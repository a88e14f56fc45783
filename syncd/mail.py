"""Outgoing mail: render from templates, keep in the outbox, send by SMTP.

A mail is rendered from three jinja2 templates under syncd/templates/mail/ --
`<name>.<locale>.subject.txt`, `<name>.<locale>.txt` and `<name>.<locale>.html`
(the HTML one autoescaped) -- and added to the `mail_outbox` table in the
caller's transaction, so a mail exists exactly when the change it announces
was committed. The outbox is the record: without SMTP_URL mails stay
`pending` there.

With SMTP_URL set, `send_pending` claims pending mails (status `sending`,
attempts + 1, in a short transaction), delivers them with smtplib in a thread,
then marks each `sent`, or back to `pending` with the error (`failed` after
MAX_ATTEMPTS). Claiming first makes delivery at most once: two senders never
take the same mail, and a process that dies mid-send leaves its mails in
`sending` rather than sending them twice. `Mailer` is the app-level owner of
the background sends, and of work that decides whether a mail is queued at
all (`defer`: a forgot-password request answers before it looks the email up).
"""

from __future__ import annotations

import asyncio
import functools
import smtplib
import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import OutboxMail
from storage.types import utcnow
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.settings import Settings

log = structlog.get_logger("syncd.mail")

LOCALES = ("en", "ar")
DEFAULT_LOCALE = "en"
MAX_ATTEMPTS = 5
BATCH_SIZE = 50
SMTP_TIMEOUT_S = 20.0

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


@dataclass(frozen=True, slots=True)
class Rendered:
    template: str
    locale: str
    subject: str
    text: str
    html: str


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("syncd", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def mail_locale(*preferred: str | None) -> str:
    """The first supported locale among `preferred` (user's, then tenant's), else English."""
    for locale in preferred:
        if locale in LOCALES:
            return locale
    return DEFAULT_LOCALE


def render(template: str, locale: str, context: Mapping[str, object]) -> Rendered:
    if locale not in LOCALES:
        raise ValueError(f"no mail templates for locale {locale!r}")
    env = environment()
    base = f"mail/{template}.{locale}"
    subject = env.get_template(f"{base}.subject.txt").render(context)
    return Rendered(
        template=template,
        locale=locale,
        subject=" ".join(subject.split()),  # one line: no header injection
        text=env.get_template(f"{base}.txt").render(context),
        html=env.get_template(f"{base}.html").render(context),
    )


def enqueue(session: AsyncSession, to_address: str, mail: Rendered) -> OutboxMail:
    """Add the mail to the outbox in the session's transaction (sent after commit)."""
    row = OutboxMail(
        id=uuid.uuid4(),
        to_address=to_address,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        locale=mail.locale,
        template=mail.template,
        status=PENDING,
        attempts=0,
    )
    session.add(row)
    return row


# --- sending -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claimed:
    tenant_id: uuid.UUID
    id: uuid.UUID
    attempts: int
    message: EmailMessage


async def send_pending(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tenant_id: uuid.UUID | None = None,
) -> int:
    """Send pending mails (one tenant's, or every tenant's); return how many were sent.

    Does nothing without SMTP_URL. Runs batches until no pending mail is left.
    """
    if settings.smtp_url is None:
        return 0
    sent = 0
    tried: set[uuid.UUID] = set()  # a mail that failed waits for the next run
    while batch := await _claim(sessions, settings, tenant_id, tried):
        errors = await asyncio.to_thread(
            _deliver, settings.smtp_url, [mail.message for mail in batch]
        )
        await _settle(sessions, tenant_id, batch, errors)
        sent += errors.count(None)
        if None not in errors:  # nothing got through: the server is down, stop here
            break
        tried.update(mail.id for mail, error in zip(batch, errors, strict=True) if error)
    return sent


def _uow(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | None
) -> TenantUnitOfWork | PlatformUnitOfWork:
    if tenant_id is None:
        return PlatformUnitOfWork(sessions)
    return TenantUnitOfWork(sessions, tenant_id)


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tenant_id: uuid.UUID | None,
    skip: set[uuid.UUID],
) -> list[_Claimed]:
    statement = select(OutboxMail).where(OutboxMail.status == PENDING)
    if skip:
        statement = statement.where(OutboxMail.id.not_in(skip))
    statement = statement.order_by(OutboxMail.created_at).limit(BATCH_SIZE)
    async with _uow(sessions, tenant_id) as uow:
        rows = (
            (await uow.session.execute(statement.with_for_update(skip_locked=True))).scalars().all()
        )
        for row in rows:
            row.status = SENDING
            row.attempts += 1
        claimed = [
            _Claimed(row.tenant_id, row.id, row.attempts, _message(row, settings.mail_from))
            for row in rows
        ]
        await uow.commit()
    return claimed


async def _settle(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | None,
    batch: Sequence[_Claimed],
    errors: Sequence[str | None],
) -> None:
    now = utcnow()
    async with _uow(sessions, tenant_id) as uow:
        for mail, error in zip(batch, errors, strict=True):
            if error is None:
                values: dict[str, object] = {"status": SENT, "sent_at": now, "error": None}
            else:
                status = FAILED if mail.attempts >= MAX_ATTEMPTS else PENDING
                values = {"status": status, "error": error[:2000]}
                log.warning("mail not sent", mail_id=str(mail.id), error=error)
            await uow.session.execute(
                update(OutboxMail)
                .where(OutboxMail.tenant_id == mail.tenant_id, OutboxMail.id == mail.id)
                .values(**values)
            )
        await uow.commit()


def _message(row: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=row.id.hex)
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    message["Content-Language"] = row.locale  # after set_content, which clears Content-*
    return message


def _deliver(url: str, messages: Sequence[EmailMessage]) -> list[str | None]:
    """Send over one SMTP connection (blocking); the error text per message, or None."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    results: list[str | None] = []
    try:
        client: smtplib.SMTP
        if parts.scheme == "smtps":
            context = ssl.create_default_context()
            client = smtplib.SMTP_SSL(
                host, parts.port or 465, timeout=SMTP_TIMEOUT_S, context=context
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT_S)
        with client:
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            for message in messages:
                results.append(_send_one(client, message))
    except (OSError, smtplib.SMTPException) as exc:
        # The connection failed: what was not sent yet carries the error.
        error = f"{type(exc).__name__}: {exc}"
        results.extend([error] * (len(messages) - len(results)))
    return results


def _send_one(client: smtplib.SMTP, message: EmailMessage) -> str | None:
    """Send one message; its own refusal is returned, a lost connection raised."""
    try:
        client.send_message(message)
    except smtplib.SMTPServerDisconnected:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        return f"recipient refused: {exc.recipients}"
    except smtplib.SMTPResponseException as exc:
        return f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
    except smtplib.SMTPException as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class Mailer:
    """Owns the background sends: `kick()` after a commit, `close()` at shutdown.

    A kick while a send runs does not start a second one: the running send
    does one more round instead.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()  # sends
        self._work: set[asyncio.Task[None]] = set()  # deferred work (may kick a send)
        self._again = False
        self._closed = False

    def kick(self) -> None:
        """Send pending mail soon, in the background (no-op without SMTP_URL)."""
        if self._closed or self.settings.smtp_url is None:
            return
        if any(not task.done() for task in self._tasks):
            self._again = True  # the running send does one more round
            return
        task = asyncio.get_running_loop().create_task(self._run(), name="syncd-mail-send")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def defer(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run `work` (which may queue a mail and `kick`) in the background, owned
        here: the caller answers without waiting for it; a failure is logged."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._deferred(work, name), name=name)
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    @staticmethod
    async def _deferred(work: Callable[[], Awaitable[None]], name: str) -> None:
        try:
            await work()
        except Exception:
            log.exception("deferred mail work failed", work=name)

    async def _run(self) -> None:
        self._again = True
        while self._again and not self._closed:
            self._again = False
            try:
                await send_pending(self.sessions, self.settings)
            except Exception:  # the outbox keeps the mail; log and wait for the next kick
                log.exception("mail sending failed")

    async def idle(self) -> None:
        """Wait until no send or deferred work is running (tests, graceful shutdown)."""
        while running := [task for task in self._tasks | self._work if not task.done()]:
            await asyncio.wait(running)

    async def close(self) -> None:
        self._closed = True
        if self._work:  # a request already answered: let its mail be queued
            await asyncio.wait(set(self._work), timeout=5)
        tasks = self._tasks | self._work
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
