"""The background jobs, for admins: how many in each state, what failed, retry.

    GET  /admin/jobs                 JOBS_MANAGE  {backend, queues[], failures[]}
    POST /admin/jobs/{job_id}/retry  JOBS_MANAGE  202 the job, queued again;
                                                  404 job_not_found, 409 job_not_failed

Read from the queue in use (rq's registries, or the in-process queue's
records; jobs.job_stats). A tenant's admin sees and retries the jobs of its
own tenant only; a platform operator sees every job, the platform's own
(upload cleanup) included. A retry is one more attempt of a job that failed
for good; what the job does keeps its own state (a report's status).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from jobs.job_stats import STATES, JobInfo, JobNotFound, JobNotRetryable
from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.auth.principal import Principal, principal
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.web.problems import Conflict, NotFound

routes = web.RouteTableDef()

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
State = Literal["queued", "started", "scheduled", "finished", "failed", "canceled"]


class JobNotFoundProblem(NotFound):
    code = "job_not_found"
    title = "No such job"


class JobNotFailed(Conflict):
    code = "job_not_failed"
    title = "Only a failed job can be retried"


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


@routes.get("/admin/jobs")
@requires(Permission.JOBS_MANAGE)
@describe(
    summary="Count the jobs per queue and state; list recent failures", responses={200: JobsRead}
)
async def list_jobs(request: web.Request) -> web.Response:
    stats = await request.app[appkeys.JOBS].stats(job_scope(principal(request)))
    queues = [
        {"name": name, "counts": {state: counts[state] for state in STATES}}
        for name, counts in stats.counts.items()
    ]
    failures = [job_read(job) for job in stats.failures]
    return web.json_response({"backend": stats.backend, "queues": queues, "failures": failures})


@routes.post("/admin/jobs/{job_id}/retry")
@requires(Permission.JOBS_MANAGE)
@describe(
    summary="Retry a failed job (one more attempt)",
    path=JobPath,
    responses={202: JobRead},
    problems=[JobNotFoundProblem, JobNotFailed],
)
async def retry_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    if not JOB_ID.match(job_id):
        raise JobNotFoundProblem(Msg("no job {job_id}", job_id=repr(job_id)))
    try:
        job = await request.app[appkeys.JOBS].retry(job_id, job_scope(principal(request)))
    except JobNotFound:
        raise JobNotFoundProblem(Msg("no job {job_id}", job_id=repr(job_id))) from None
    except JobNotRetryable as exc:
        raise JobNotFailed(str(exc)) from None
    return web.json_response(job_read(job), status=202)
