"""Jobs: how many are queued, running, waiting to retry, done, failed; the failures
with their errors; retry.

    GET  /console/jobs                  jobs:manage (as GET /admin/jobs)
    POST /console/jobs/{job_id}/retry   jobs:manage (as POST /admin/jobs/{job_id}/retry)

A tenant's admin sees and retries the jobs of its own tenant only (a platform
operator, every job): the same scope as the REST routes.
"""

from __future__ import annotations

from aiohttp import web

from jobs.job_stats import STATES, JobNotFound, JobNotRetryable
from syncd import appkeys
from syncd.admin.service import JOB_ID, JobNotFailed, JobNotFoundProblem, job_scope
from syncd.auth.permissions import Permission
from syncd.console.forms import page, read_form, with_notice
from syncd.console.render import render, see_other
from syncd.i18n import Msg
from syncd.web.keys import principal

routes = web.RouteTableDef()


@routes.get("/console/jobs")
@page(Permission.JOBS_MANAGE)
async def jobs(request: web.Request) -> web.Response:
    stats = await request.app[appkeys.JOBS].stats(job_scope(principal(request)))
    return render(
        request,
        "jobs.html",
        {
            "backend": stats.backend,
            "states": STATES,
            "counts": stats.counts,
            "failures": stats.failures,
            "notice": request.query.get("notice"),
        },
    )


@routes.post("/console/jobs/{job_id}/retry")
@page(Permission.JOBS_MANAGE)
async def retry(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    await read_form(request)
    if not JOB_ID.match(job_id):
        raise JobNotFoundProblem(Msg("no job {job_id}", job_id=repr(job_id)))
    try:
        await request.app[appkeys.JOBS].retry(job_id, job_scope(principal(request)))
    except JobNotFound:
        raise JobNotFoundProblem(Msg("no job {job_id}", job_id=repr(job_id))) from None
    except JobNotRetryable as exc:
        raise JobNotFailed.of(exc) from None
    return see_other(request, with_notice("/console/jobs", "retried"))
