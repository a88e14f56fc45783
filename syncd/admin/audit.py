"""The audit trail: one call records who did what sensitive thing, from where.

Admins read it newest first, with cursor pagination over (created_at, id)
descending (`read_audit`; GET /admin/audit and the console's audit page).
Filters: `action`, `actor_id`, `target_type`, `target_id` (exact), `since` and
`until` (ISO 8601; a time without an offset is UTC; `since` inclusive, `until`
exclusive).

"From where" is an `Origin`, a plain value: the handler builds it from its
request (`syncd.web.origin.origin_of`) and the use case passes it on, so no
service needs the web request. A command line or a job records `NOWHERE`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AuditEntry
from storage.unit_of_work import TenantUnitOfWork
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from: the client's address, the request's id, its user agent."""

    ip: str | None = None
    request_id: str | None = None
    user_agent: str | None = None


NOWHERE = Origin()


def record(
    session: AsyncSession,
    action: str,
    *,
    origin: Origin = NOWHERE,
    actor_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> AuditEntry:
    """Add an audit entry to the session's transaction (committed with it).

    In a tenant unit of work the tenant is stamped; a platform unit of work
    must pass `tenant_id`.
    """
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=origin.ip,
        request_id=origin.request_id,
        details=details or {},
    )
    if tenant_id is not None:
        entry.tenant_id = tenant_id
    session.add(entry)
    return entry


# --- reading ---------------------------------------------------------------------


def _utc_if_naive(value: Any) -> Any:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value  # pydantic reports it
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_utc_if_naive)]


class AuditQuery(BaseModel):
    """The filters (other query parameters, such as cursor and limit, pass)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: str | None = Field(None, min_length=1, max_length=64)
    actor_id: uuid.UUID | None = None
    target_type: str | None = Field(None, min_length=1, max_length=32)
    target_id: str | None = Field(None, min_length=1, max_length=100)
    since: Moment | None = None
    until: Moment | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def entry_read(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "action": entry.action,
        "actor_id": None if entry.actor_id is None else str(entry.actor_id),
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "ip": entry.ip,
        "request_id": entry.request_id,
        "details": entry.details,
        "created_at": entry.created_at.isoformat(),
    }


async def read_audit(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    query: AuditQuery,
    cursor: str | None,
    limit: int,
) -> AuditPage:
    statement = _filtered(select(AuditEntry), query)
    if cursor is not None:
        created_at, entry_id = _before(cursor)
        statement = statement.where(
            or_(
                AuditEntry.created_at < created_at,
                and_(AuditEntry.created_at == created_at, AuditEntry.id < entry_id),
            )
        )
    statement = statement.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        rows = list((await uow.session.execute(statement.limit(limit + 1))).scalars())
        items = [entry_read(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return AuditPage(items, None)
    last = items[-1]
    return AuditPage(items, encode_cursor(last["created_at"], last["id"]))


def _filtered(statement: Select[AuditEntry], query: AuditQuery) -> Select[AuditEntry]:
    if query.action is not None:
        statement = statement.where(AuditEntry.action == query.action)
    if query.actor_id is not None:
        statement = statement.where(AuditEntry.actor_id == query.actor_id)
    if query.target_type is not None:
        statement = statement.where(AuditEntry.target_type == query.target_type)
    if query.target_id is not None:
        statement = statement.where(AuditEntry.target_id == query.target_id)
    if query.since is not None:
        statement = statement.where(AuditEntry.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.created_at < query.until)
    return statement


def _before(cursor: str) -> tuple[datetime, int]:
    created_at, entry_id = decode_cursor(cursor, 2)
    try:
        moment = datetime.fromisoformat(str(created_at))
    except ValueError:
        raise InvalidCursor("the cursor was not made by this server") from None
    if not isinstance(entry_id, int) or moment.tzinfo is None:
        raise InvalidCursor("the cursor was not made by this server")
    return moment, entry_id
