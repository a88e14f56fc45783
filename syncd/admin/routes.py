"""The admin routes: the audit log and the background jobs.

    GET  /admin/audit                AUDIT_READ   the tenant's audit entries, newest first
    GET  /admin/jobs                 JOBS_MANAGE  {backend, queues[], failures[]}
    POST /admin/jobs/{job_id}/retry  JOBS_MANAGE  202 the job, queued again;
                                                  404 job_not_found, 409 job_not_failed

The audit log's filters are `syncd.admin.audit`'s (a bad one is a 422
problem); the jobs, whose jobs a caller sees and what a retry is, are
`syncd.admin.service`'s.
"""

from __future__ import annotations

from aiohttp import web

from jobs.job_stats import STATES, JobNotFound, JobNotRetryable
from syncd import appkeys
from syncd.admin.schemas import AuditEntryPage, AuditListQuery, JobPath, JobRead, JobsRead
from syncd.admin.service import (
    JOB_ID,
    AuditQuery,
    JobNotFailed,
    JobNotFoundProblem,
    job_read,
    job_scope,
    read_audit,
)
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.pagination import page, page_params
from syncd.web.query import read_query

routes = web.RouteTableDef()


@routes.get("/admin/audit")
@requires(Permission.AUDIT_READ)
@describe(
    summary="Read the audit log",
    query=AuditListQuery,
    responses={200: AuditEntryPage},
    problems=[InvalidCursor],
    tags=["admin"],
)
async def list_audit(request: web.Request) -> web.Response:
    """The tenant's audit entries, newest first: `{"items": [...], "next_cursor": ...}`."""
    query = read_query(request, AuditQuery)
    cursor, limit = page_params(request)
    found = await read_audit(
        request.app[appkeys.SESSIONS], principal(request).tenant_id, query, cursor, limit
    )
    return web.json_response(page(found.items, limit, found.next_cursor))


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
        raise JobNotFailed.of(exc) from None
    return web.json_response(job_read(job), status=202)
