"""PDF job sheets of tasks, made in the background.

    POST /tasks/{task_id}/job-sheets  TASKS_READ  202 the report (queued);
                                                  404 task_not_found
    GET  /reports/{report_id}         TASKS_READ  the report: status, attempts, error
    GET  /reports/{report_id}/content TASKS_READ  302 to a signed download of the PDF;
                                                  409 report_not_ready

A report's status goes `queued` -> `running` -> `done`, or `failed` (with
its error) once no retry follows; poll `GET /reports/{id}`. Technicians
reach only the job sheets of tasks assigned to them. The use cases live in
syncd.reports.service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from storage.models import Report
from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.reports.schemas import JobSheetCreate, ReportPath, ReportRead, TaskPath
from syncd.reports.service import ReportNotFound, ReportNotReady, ReportService
from syncd.tasks.service import TaskNotFound
from syncd.web.body import parse_body, path_uuid
from syncd.web.keys import principal

routes = web.RouteTableDef()


def report_read(report: Report) -> dict[str, Any]:
    done = report.status == "done"
    return {
        "id": str(report.id),
        "task_id": str(report.task_id),
        "locale": report.locale,
        "status": report.status,
        "attempts": report.attempts,
        "error": report.error,
        "content_url": f"/reports/{report.id}/content" if done else None,
        "created_by": None if report.created_by is None else str(report.created_by),
        "created_at": report.created_at.isoformat(),
        "finished_at": None if report.finished_at is None else report.finished_at.isoformat(),
    }


def _report_id(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "report_id",
        lambda raw: ReportNotFound(Msg("no report {report_id}", report_id=repr(raw))),
    )


@routes.post("/tasks/{task_id}/job-sheets")
@requires(Permission.TASKS_READ)
@describe(
    summary="Ask for the task's PDF job sheet (made in the background)",
    path=TaskPath,
    body=JobSheetCreate,
    responses={202: ReportRead},
    problems=[TaskNotFound],
)
async def request_job_sheet(request: web.Request) -> web.Response:
    task_id = path_uuid(
        request, "task_id", lambda raw: TaskNotFound(Msg("no task {task_id}", task_id=repr(raw)))
    )
    body = await parse_body(request, JobSheetCreate)
    report = await request.app[appkeys.REPORTS].request(principal(request), task_id, body.locale)
    headers = {"Location": f"/reports/{report.id}"}
    return web.json_response(report_read(report), status=202, headers=headers)


@routes.get("/reports/{report_id}")
@requires(Permission.TASKS_READ)
@describe(
    summary="Read a report's status",
    path=ReportPath,
    responses={200: ReportRead},
    problems=[ReportNotFound],
)
async def get_report(request: web.Request) -> web.Response:
    report = await request.app[appkeys.REPORTS].get(principal(request), _report_id(request))
    return web.json_response(report_read(report))


@routes.get("/reports/{report_id}/content")
@requires(Permission.TASKS_READ)
@describe(
    summary="Download the PDF (a redirect to a signed, expiring URL)",
    path=ReportPath,
    responses={302: None},
    problems=[ReportNotFound, ReportNotReady],
)
async def report_content(request: web.Request) -> web.Response:
    url = await request.app[appkeys.REPORTS].content_url(principal(request), _report_id(request))
    if url.startswith("/"):  # the local blob store's own URL
        url = f"{request.url.origin()}{url}"
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


async def reports_context(app: web.Application) -> AsyncIterator[None]:
    """The report service, for the life of the app (after the job queue exists)."""
    settings = app[appkeys.SETTINGS]
    app[appkeys.REPORTS] = ReportService(
        app[appkeys.SESSIONS],
        app[appkeys.BLOBS],
        app[appkeys.JOBS],
        url_ttl_s=settings.blob_url_ttl_s,
    )
    yield
