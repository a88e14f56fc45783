"""Task routes: list, CRUD, assignment, lifecycle actions and the timeline.

    GET    /tasks                          tasks:read    200 {items, next_cursor}
    POST   /tasks                          tasks:manage  201 task (200: the same one again)
    GET    /tasks/{task_id}                tasks:read    200 task, ETag
    PATCH  /tasks/{task_id}                tasks:work    200 task; If-Match 412, updated_at 409
    DELETE /tasks/{task_id}                tasks:manage  204
    POST   /tasks/{task_id}/assign         tasks:manage  200 task
    POST   /tasks/{task_id}/unassign       tasks:manage  200 task
    POST   /tasks/{task_id}/{action}       tasks:work    200 task (start, pause, resume,
                                                          complete, reject; reopen: admins)
    GET    /tasks/{task_id}/timeline       tasks:read    200 {task_id, items, truncated}

The rules live in syncd.tasks.service; writes go through the sync service.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from protocol.lifecycle import TaskAction, TaskStatus
from syncd.auth.permissions import Permission, requires
from syncd.openapi import describe
from syncd.sync.refusals import InvalidAssignee, InvalidTransitionProblem
from syncd.sync.rest_entities import etag
from syncd.tasks.http import IF_MATCH, service, task_id_of
from syncd.tasks.schemas import (
    ActionBody,
    AssignBody,
    RejectBody,
    TaskCreate,
    TaskListQuery,
    TaskPage,
    TaskPatch,
    TaskPath,
    TaskQuery,
    TaskRead,
    Timeline,
)
from syncd.tasks.service import (
    NotAssigned,
    NothingToChange,
    StaleTask,
    StaleUpdatedAt,
    TaskExists,
    TaskFilter,
    TaskNotFound,
)
from syncd.web.body import parse_body, parse_uuid, validate
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.pagination import page, page_params
from syncd.web.problems import Forbidden
from syncd.web.query import read_query

routes = web.RouteTableDef()
M = TypeVar("M", bound=BaseModel)


def answer(task: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(task, status=status, headers={"ETag": etag(task)})


async def optional_body(request: web.Request, model: type[M]) -> M:
    """The JSON body, or the model's defaults when the request has none."""
    if not request.body_exists:
        return validate(model, {})
    return await parse_body(request, model)


@routes.get("/tasks")
@requires(Permission.TASKS_READ)
@describe(
    summary="List tasks",
    query=TaskListQuery,
    responses={200: TaskPage},
    problems=[InvalidCursor],
)
async def list_tasks(request: web.Request) -> web.Response:
    """Tasks in `sort` order (tasks without a due date last when sorting by it).

    Technicians see the tasks assigned to them only. Filters combine with AND.
    """
    query = read_query(request, TaskQuery)
    cursor, limit = page_params(request)
    who = principal(request)
    assignee = None
    if query.assignee is not None:
        assignee = who.user_id if query.assignee == "me" else parse_uuid(query.assignee, "assignee")
    filters = TaskFilter(
        status=tuple(TaskStatus(s.strip()) for s in query.status.split(","))
        if query.status
        else (),
        assignee=assignee,
        due_from=query.due_from,
        due_to=query.due_to,
        q=query.q,
        updated_since=query.updated_since,
        sort=query.sort,
    )
    tasks, next_cursor = await service(request).page(who, filters, cursor, limit)
    return web.json_response(page(tasks, limit, next_cursor))


@routes.post("/tasks")
@requires(Permission.TASKS_MANAGE)
@describe(
    summary="Create a task",
    body=TaskCreate,
    responses={201: TaskRead, 200: TaskRead},
    problems=[TaskExists],
)
async def create_task(request: web.Request) -> web.Response:
    """Create a task (status `open`), with your own id if you like.

    Posting the same id with the same body again answers the stored task (200);
    the same id with other values is 409 `task_exists`, with the stored task.
    """
    body = await parse_body(request, TaskCreate)
    task_id = body.id or uuid.uuid4()
    fields = body.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    task, created = await service(request).create(principal(request), task_id, fields)
    response = answer(task, 201 if created else 200)
    response.headers["Location"] = f"/tasks/{task_id}"
    return response


@routes.get("/tasks/{task_id}")
@requires(Permission.TASKS_READ)
@describe(summary="Read a task", path=TaskPath, responses={200: TaskRead}, problems=[TaskNotFound])
async def get_task(request: web.Request) -> web.Response:
    return answer(await service(request).get(principal(request), task_id_of(request)))


@routes.patch("/tasks/{task_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Change a task",
    path=TaskPath,
    body=TaskPatch,
    headers=IF_MATCH,
    responses={200: TaskRead},
    problems=[TaskNotFound, StaleTask, StaleUpdatedAt, NothingToChange],
)
async def patch_task(request: web.Request) -> web.Response:
    """Change some fields. Optimistic concurrency: send `If-Match` with the ETag you
    read (stale: 412) or `updated_at` as you read it (stale: 409); either answer
    carries the current task in `current`. Without either, the last write wins."""
    task_id = task_id_of(request)
    body = await parse_body(request, TaskPatch)
    fields = body.model_dump(mode="json", exclude={"updated_at"}, exclude_unset=True)
    task = await service(request).update(
        principal(request),
        task_id,
        fields,
        if_match=request.headers.get("If-Match"),
        updated_at=body.updated_at,
    )
    return answer(task)


@routes.delete("/tasks/{task_id}")
@requires(Permission.TASKS_MANAGE)
@describe(
    summary="Delete a task",
    path=TaskPath,
    headers=IF_MATCH,
    responses={204: None},
    problems=[TaskNotFound, StaleTask],
)
async def delete_task(request: web.Request) -> web.Response:
    """Delete a task: a tombstone that devices receive as a delete."""
    await service(request).delete(
        principal(request), task_id_of(request), if_match=request.headers.get("If-Match")
    )
    return web.Response(status=204)


async def _assignment(request: web.Request, action: TaskAction) -> web.Response:
    task_id = task_id_of(request)
    body = await parse_body(request, AssignBody)
    task = await service(request).act(
        principal(request),
        task_id,
        action,
        user_id=body.user_id,
        if_match=request.headers.get("If-Match"),
    )
    return answer(task)


@routes.post("/tasks/{task_id}/assign")
@requires(Permission.TASKS_MANAGE)
@describe(
    summary="Assign a technician",
    path=TaskPath,
    body=AssignBody,
    headers=IF_MATCH,
    responses={200: TaskRead},
    problems=[TaskNotFound, InvalidAssignee, InvalidTransitionProblem, StaleTask],
)
async def assign_task(request: web.Request) -> web.Response:
    """Assign an active technician of the tenant (an open task becomes `assigned`;
    an assigned one takes a further technician). Their devices receive the task."""
    return await _assignment(request, TaskAction.ASSIGN)


@routes.post("/tasks/{task_id}/unassign")
@requires(Permission.TASKS_MANAGE)
@describe(
    summary="Unassign a technician",
    path=TaskPath,
    body=AssignBody,
    headers=IF_MATCH,
    responses={200: TaskRead},
    problems=[TaskNotFound, NotAssigned, InvalidTransitionProblem, StaleTask],
)
async def unassign_task(request: web.Request) -> web.Response:
    """Take a technician off the task; their devices are told to drop it."""
    return await _assignment(request, TaskAction.UNASSIGN)


def _action_route(action: TaskAction, permission: Permission, summary: str, doc: str) -> None:
    body_model = RejectBody if action is TaskAction.REJECT else ActionBody

    @requires(permission)
    @describe(
        summary=summary,
        path=TaskPath,
        body=body_model,
        headers=IF_MATCH,
        responses={200: TaskRead},
        problems=[TaskNotFound, InvalidTransitionProblem, StaleTask, Forbidden],
        description=doc,
    )
    async def act(request: web.Request) -> web.Response:
        task_id = task_id_of(request)
        body = await optional_body(request, body_model)
        task = await service(request).act(
            principal(request),
            task_id,
            action,
            client_time=body.client_time,
            geo=body.geo,
            reason=getattr(body, "reason", None),
            if_match=request.headers.get("If-Match"),
        )
        return answer(task)

    act.__name__ = f"{action.value}_task"
    routes.post(f"/tasks/{{task_id}}/{action.value}")(act)


_LIFECYCLE = (
    "An action the task's status does not allow is 409 `invalid_transition`, "
    "naming the status and the allowed actions. "
)
_STAMP = (
    "The body is optional: `client_time` and `geo` `{lat, lng, accuracy_m}` "
    "stamp the timeline entry."
)
_action_route(
    TaskAction.START,
    Permission.TASKS_WORK,
    "Start a task",
    "assigned -> in_progress. " + _LIFECYCLE + _STAMP,
)
_action_route(
    TaskAction.PAUSE,
    Permission.TASKS_WORK,
    "Pause a task",
    "in_progress -> paused. " + _LIFECYCLE + _STAMP,
)
_action_route(
    TaskAction.RESUME,
    Permission.TASKS_WORK,
    "Resume a task",
    "paused -> in_progress. " + _LIFECYCLE + _STAMP,
)
_action_route(
    TaskAction.COMPLETE,
    Permission.TASKS_WORK,
    "Complete a task",
    "in_progress -> completed. " + _LIFECYCLE + _STAMP,
)
_action_route(
    TaskAction.REJECT,
    Permission.TASKS_WORK,
    "Reject a task",
    "open, assigned, in_progress or paused -> rejected; `reason` is required. " + _LIFECYCLE,
)
_action_route(
    TaskAction.REOPEN,
    Permission.TASKS_MANAGE,
    "Reopen a task",
    "completed or rejected -> open; admins only (403 for others). " + _LIFECYCLE + _STAMP,
)


@routes.get("/tasks/{task_id}/timeline")
@requires(Permission.TASKS_READ)
@describe(
    summary="A task's timeline",
    path=TaskPath,
    responses={200: Timeline},
    problems=[TaskNotFound],
)
async def timeline(request: web.Request) -> web.Response:
    """Every entry of the task's timeline with actor, device, client and server time
    and geo stamp, in the order things happened (refused actions included)."""
    return web.json_response(
        await service(request).timeline(principal(request), task_id_of(request))
    )
