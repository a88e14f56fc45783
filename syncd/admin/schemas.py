"""The shapes of the admin routes: the audit log's page and query, the jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from syncd.admin.service import JOB_ID, AuditQuery, State
from syncd.web.pagination import PageQuery


class AuditEntryRead(BaseModel):
    id: int
    action: str
    actor_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]
    created_at: datetime


class AuditEntryPage(BaseModel):
    """The tenant's audit entries, newest first."""

    items: list[AuditEntryRead]
    next_cursor: str | None


class AuditListQuery(AuditQuery, PageQuery):
    """The query string, for the document."""


class JobPath(BaseModel):
    job_id: str = Field(pattern=JOB_ID.pattern)


class JobRead(BaseModel):
    """A job, as the queue knows it."""

    id: str
    queue: Literal["media", "reports"]
    name: str = Field(description="the job function, e.g. jobs.reports.make_job_sheet")
    status: State
    attempts: int | None
    error: str | None = Field(description="the exception of its last failure")
    ended_at: datetime | None


class QueueCounts(BaseModel):
    name: Literal["media", "reports"]
    counts: dict[State, int]


class JobsRead(BaseModel):
    """Counts per queue and state, and the most recent failures (newest first)."""

    backend: Literal["rq", "in_process"]
    queues: list[QueueCounts]
    failures: list[JobRead]
