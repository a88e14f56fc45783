"""A task's checklist over REST: list, add, tick or rename, remove.

    GET    /tasks/{task_id}/checklist            tasks:read  200 {items}
    POST   /tasks/{task_id}/checklist            tasks:work  201 item (200: the same one again)
    PATCH  /tasks/{task_id}/checklist/{item_id}  tasks:work  200 item
    DELETE /tasks/{task_id}/checklist/{item_id}  tasks:work  204

Checklist items are synced rows (`checklist_item` in protocol/entities.py):
every write is one change through the sync service, so phones receive it,
and a technician reaches only the checklists of their tasks (404 for others).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from protocol.changes import Op
from storage import sync_store as store
from storage.models.tasks import ChecklistItem
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.sync.rest_entities import Refusals, RestEntities, RestEntity, load_visible
from syncd.sync.writes import RestWrites
from syncd.tasks.http import task_id_of
from syncd.tasks.service import TASK, NothingToChange, TaskNotFound
from syncd.web.body import Body, parse_body, path_uuid
from syncd.web.keys import principal
from syncd.web.patch import Patch
from syncd.web.problems import NotFound

routes = web.RouteTableDef()
MAX_ITEMS = 500


class ChecklistItemNotFound(NotFound):
    code = "checklist_item_not_found"
    title = "No such checklist item"


class ChecklistItemCreate(Body):
    id: uuid.UUID | None = Field(None, description="the client's UUID (a retry answers 200)")
    label: str = Field(min_length=1, max_length=200)
    done: bool = False
    position: int = Field(0, ge=0, le=1_000_000)


class ChecklistItemPatch(Patch):
    MUST_CHANGE = True

    label: str | None = Field(None, min_length=1, max_length=200)
    done: bool | None = None
    position: int | None = Field(None, ge=0, le=1_000_000)


class ChecklistItemRead(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID
    label: str
    done: bool
    position: int
    version: int


class Checklist(BaseModel):
    """A task's live items, by position."""

    items: list[ChecklistItemRead]


ITEM = RestEntity(
    "checklist_item",
    Refusals(
        missing=lambda item_id: ChecklistItemNotFound(
            Msg("no checklist item {item_id}", item_id=item_id)
        )
    ),
)


def rows(request: web.Request) -> RestEntities:
    app = request.app
    return RestEntities(app[appkeys.SESSIONS], RestWrites(app[appkeys.SYNC]))


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "task_id", "label", "done", "position", "version")
    return {key: item[key] for key in keys}


async def _change(
    request: web.Request, task_id: uuid.UUID, item_id: uuid.UUID, op: Op, fields: dict[str, Any]
) -> dict[str, Any]:
    """Edit or remove an item of the task in the path."""
    found = rows(request)
    fresh = found.fresh(principal(request), ITEM, item_id, parent=(TASK, task_id))
    return await found.writes.write(
        principal(request), "checklist_item", item_id, op, fields=fields, check=fresh
    )


def _item_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(request, "item_id", lambda raw: ITEM.refusals.missing(repr(raw)))


@routes.get("/tasks/{task_id}/checklist")
@requires(Permission.TASKS_READ)
@describe(summary="A task's checklist", responses={200: Checklist}, problems=[TaskNotFound])
async def list_items(request: web.Request) -> web.Response:
    task_id, who = task_id_of(request), principal(request)
    async with TenantUnitOfWork(request.app[appkeys.SESSIONS], who.tenant_id) as uow:
        await load_visible(uow.session, who, TASK, task_id)
        found = await uow.session.execute(
            select(ChecklistItem.__table__)
            .where(ChecklistItem.task_id == task_id, ChecklistItem.deleted_at.is_(None))
            .order_by(ChecklistItem.position, ChecklistItem.id)
            .limit(MAX_ITEMS)
        )
        rows = [store.row_to_json("checklist_item", row) for row in found.mappings()]
    return web.json_response({"items": [_shown(row) for row in rows]})


@routes.post("/tasks/{task_id}/checklist")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Add an item to a task's checklist",
    body=ChecklistItemCreate,
    responses={201: ChecklistItemRead, 200: ChecklistItemRead},
    problems=[TaskNotFound],
)
async def add_item(request: web.Request) -> web.Response:
    task_id = task_id_of(request)
    body = await parse_body(request, ChecklistItemCreate)
    item_id = body.id or uuid.uuid4()
    fields = {"task_id": str(task_id), **body.model_dump(exclude={"id"})}
    # A retry writes the item over (checklist items take no 409): 200 says it was there.
    item, created = await rows(request).create(
        principal(request), ITEM, item_id, fields, parent=(TASK, task_id)
    )
    return web.json_response(_shown(item), status=201 if created else 200)


@routes.patch("/tasks/{task_id}/checklist/{item_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Tick, rename or move a checklist item",
    body=ChecklistItemPatch,
    responses={200: ChecklistItemRead},
    problems=[TaskNotFound, ChecklistItemNotFound, NothingToChange],
)
async def patch_item(request: web.Request) -> web.Response:
    task_id, item_id = task_id_of(request), _item_id_of(request)
    body = await parse_body(request, ChecklistItemPatch)
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise NothingToChange(Msg("name at least one field to change"))
    item = await _change(request, task_id, item_id, Op.UPSERT, fields)
    return web.json_response(_shown(item))


@routes.delete("/tasks/{task_id}/checklist/{item_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Remove a checklist item",
    responses={204: None},
    problems=[TaskNotFound, ChecklistItemNotFound],
)
async def delete_item(request: web.Request) -> web.Response:
    await _change(request, task_id_of(request), _item_id_of(request), Op.DELETE, {})
    return web.Response(status=204)
