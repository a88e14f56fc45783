"""What the routes that name a task share: the task in the path, If-Match, the service.

Used by the task, checklist and finance routes and by the console's board,
so that none of them imports another's routes.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from syncd import appkeys
from syncd.i18n import Msg
from syncd.sync.writes import RestWrites
from syncd.tasks.service import TaskNotFound, TaskService
from syncd.web.body import path_uuid

IF_MATCH = {"If-Match": "the ETag you read; a stale one is 412 `stale_task`"}


def service(request: web.Request) -> TaskService:
    app = request.app
    return TaskService(app[appkeys.SESSIONS], RestWrites(app[appkeys.SYNC]))


def task_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request, "task_id", lambda raw: TaskNotFound(Msg("no task {task_id}", task_id=repr(raw)))
    )
