"""The admin's use cases: reading the audit trail and the background jobs.

The audit trail (written by every feature through syncd.admin.audit) is read
newest first, with cursor pagination over (created_at, id) descending
(`read_audit`; GET /admin/audit and the console's audit page). Filters:
`action`, `actor_id`, `target_type`, `target_id` (exact), `since` and `until`
(ISO 8601; a time without an offset is UTC; `since` inclusive, `until`
exclusive).

The background jobs, for admins: whose jobs a caller sees, how a job reads, its
problems. Read from the queue in use (rq's registries, or the in-process queue's
records; jobs.job_stats). A tenant's admin sees and retries the jobs of its
own tenant only; a platform operator sees every job, the platform's own
(upload cleanup) included. A retry is one more attempt of a job that failed
for good; what the job does keeps its own state (a report's status).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.job_stats import JobInfo, JobNotRetryable
from storage.models import AuditEntry
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict, NotFound

# --- the audit trail -----------------------------------------------------------


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


# --- the background jobs -------------------------------------------------------

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
State = Literal["queued", "started", "scheduled", "finished", "failed", "canceled"]


class JobNotFoundProblem(NotFound):
    code = "job_not_found"
    title = "No such job"


class JobNotFailed(Conflict):
    code = "job_not_failed"
    title = "Only a failed job can be retried"

    @classmethod
    def of(cls, refused: JobNotRetryable) -> JobNotFailed:
        """The problem of a retry the queue refused, in the reader's language."""
        if refused.status:
            return cls(
                Msg(
                    "job {job_id} is {status}, not failed",
                    job_id=refused.job_id,
                    status=refused.status,
                )
            )
        return cls(Msg("job {job_id} is not in the failed registry", job_id=refused.job_id))


def job_read(job: JobInfo) -> dict[str, Any]:
    return {
        "id": job.id,
        "queue": job.queue,
        "name": job.name,
        "status": job.status,
        "attempts": job.attempts,
        "error": job.error,
        "ended_at": None if job.ended_at is None else job.ended_at.isoformat(),
    }


def job_scope(who: Principal) -> str | None:
    """Whose jobs the caller sees: their tenant's, or (platform operator) everyone's."""
    return None if who.is_platform_operator else str(who.tenant_id)
