"""The tasks board, for staff: tasks by status with their technicians; assign, unassign.

    GET  /console/tasks                      tasks:manage
    POST /console/tasks/{task_id}/assign     tasks:manage (as POST /tasks/{id}/assign)
    POST /console/tasks/{task_id}/unassign   tasks:manage (as POST /tasks/{id}/unassign)

Through TaskService, whose writes go through the sync service: an assignment
reaches the technician's devices like any other change.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from protocol.lifecycle import TaskAction, TaskStatus
from protocol.roles import Role
from syncd.auth.permissions import Permission
from syncd.console.directory import people
from syncd.console.forms import page, read_form, with_notice
from syncd.console.render import render, see_other
from syncd.i18n import Msg
from syncd.tasks.http import service
from syncd.tasks.service import TaskFilter, TaskNotFound
from syncd.web.body import parse_uuid
from syncd.web.keys import principal

routes = web.RouteTableDef()

PER_COLUMN = 50
COLUMNS = (
    TaskStatus.OPEN,
    TaskStatus.ASSIGNED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.PAUSED,
    TaskStatus.COMPLETED,
    TaskStatus.REJECTED,
)


@routes.get("/console/tasks")
@page(Permission.TASKS_MANAGE)
async def board(request: web.Request) -> web.Response:
    who = principal(request)
    tasks = service(request)
    columns = []
    for status in COLUMNS:
        found, more = await tasks.page(
            who, TaskFilter(status=(status,), sort="-updated_at"), None, PER_COLUMN
        )
        columns.append({"status": status.value, "tasks": found, "more": more is not None})
    return render(
        request,
        "tasks.html",
        {
            "columns": columns,
            "people": await people(request, who),
            "technicians": await people(request, who, Role.TECHNICIAN, active_only=True),
            "notice": request.query.get("notice"),
            "per_column": PER_COLUMN,
        },
    )


def _task_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info["task_id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise TaskNotFound(Msg("no task {task_id}", task_id=repr(raw))) from None


async def _assignment(request: web.Request, action: TaskAction) -> web.Response:
    task_id = _task_id(request)
    form = await read_form(request)
    user_id = parse_uuid(form.get("user_id", 36) or "", "user_id")
    await service(request).act(principal(request), task_id, action, user_id=user_id)
    return see_other(request, with_notice("/console/tasks", action.value + "ed"))


@routes.post("/console/tasks/{task_id}/assign")
@page(Permission.TASKS_MANAGE)
async def assign(request: web.Request) -> web.Response:
    return await _assignment(request, TaskAction.ASSIGN)


@routes.post("/console/tasks/{task_id}/unassign")
@page(Permission.TASKS_MANAGE)
async def unassign(request: web.Request) -> web.Response:
    return await _assignment(request, TaskAction.UNASSIGN)
