"""Purchase and receipt routes, and a task's money at a glance.

    GET    /purchases                      tasks:read  200 {items, next_cursor}
    POST   /purchases                      tasks:work  201 (200: the same one again)
    GET    /purchases/{purchase_id}        tasks:read  200, ETag
    PATCH  /purchases/{purchase_id}        tasks:work  200; If-Match 412, updated_at 409
    DELETE /purchases/{purchase_id}        tasks:work  204
    GET    /tasks/{task_id}/purchases      tasks:read  200 {purchases, receipts, totals}
    POST   /tasks/{task_id}/purchases      tasks:work  201
    GET    /tasks/{task_id}/totals         tasks:read  200 {task_id, totals}
    GET    /receipts ... DELETE /receipts/{receipt_id}: as purchases

The rules live in syncd.finance.service; writes go through the sync service.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.finance.schemas import (
    PurchaseCreate,
    PurchaseFields,
    PurchaseListQuery,
    PurchasePage,
    PurchasePatch,
    PurchasePath,
    PurchaseRead,
    ReceiptCreate,
    ReceiptListQuery,
    ReceiptPage,
    ReceiptPatch,
    ReceiptPath,
    ReceiptQuery,
    ReceiptRead,
    RecordQuery,
    TaskFinance,
    TaskTotals,
)
from syncd.finance.service import (
    PURCHASES,
    RECEIPTS,
    FinanceService,
    Kind,
    RecordExists,
    RecordFilter,
    StaleRecord,
    StaleRecordUpdatedAt,
    not_found,
)
from syncd.openapi import describe
from syncd.sync.refusals import UnknownMedia, UnknownReference
from syncd.sync.rest_entities import etag
from syncd.sync.writes import RestWrites
from syncd.tasks.http import IF_MATCH, task_id_of
from syncd.tasks.schemas import TaskPath
from syncd.tasks.service import NothingToChange, TaskNotFound
from syncd.web.body import parse_body, path_uuid
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.pagination import page, page_params
from syncd.web.query import read_query

routes = web.RouteTableDef()
STAMP = ("client_time", "geo")
WRITE_PROBLEMS = [UnknownReference, UnknownMedia]


def service(request: web.Request) -> FinanceService:
    app = request.app
    return FinanceService(app[appkeys.SESSIONS], RestWrites(app[appkeys.SYNC]))


def answer(record: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(record, status=status, headers={"ETag": etag(record)})


def record_id_of(request: web.Request, kind: Kind) -> uuid.UUID:
    name = f"{kind.entity}_id"
    return path_uuid(request, name, lambda raw: not_found(kind, repr(raw)))


async def _create(
    request: web.Request, kind: Kind, body: BaseModel, task_id: uuid.UUID | None = None
) -> web.Response:
    record_id = getattr(body, "id", None) or uuid.uuid4()
    fields = body.model_dump(mode="json", exclude={"id", *STAMP}, exclude_none=True)
    if task_id is not None:  # the task in the path
        fields["task_id"] = str(task_id)
    record, created = await service(request).create(
        principal(request),
        kind,
        record_id,
        fields,
        client_time=getattr(body, "client_time", None),
        geo=getattr(body, "geo", None),
        task_id=task_id,
    )
    response = answer(record, 201 if created else 200)
    response.headers["Location"] = f"/{kind.entity}s/{record_id}"
    return response


async def _list(request: web.Request, kind: Kind, query: RecordQuery) -> web.Response:
    cursor, limit = page_params(request)
    filters = RecordFilter(
        task_id=query.task_id,
        purchase_id=getattr(query, "purchase_id", None),
        currency=query.currency,
        since=query.since,
        until=query.until,
    )
    records, next_cursor = await service(request).page(
        principal(request), kind, filters, cursor, limit
    )
    return web.json_response(page(records, limit, next_cursor))


async def _patch(request: web.Request, kind: Kind, model: type[BaseModel]) -> web.Response:
    record_id = record_id_of(request, kind)
    body = await parse_body(request, model)
    fields = body.model_dump(mode="json", exclude={"updated_at"}, exclude_unset=True)
    record = await service(request).update(
        principal(request),
        kind,
        record_id,
        fields,
        if_match=request.headers.get("If-Match"),
        updated_at=getattr(body, "updated_at", None),
    )
    return answer(record)


async def _delete(request: web.Request, kind: Kind) -> web.Response:
    await service(request).delete(
        principal(request),
        kind,
        record_id_of(request, kind),
        if_match=request.headers.get("If-Match"),
    )
    return web.Response(status=204)


# --- purchases ----------------------------------------------------------------------


@routes.get("/purchases")
@requires(Permission.TASKS_READ)
@describe(
    summary="List purchases",
    query=PurchaseListQuery,
    responses={200: PurchasePage},
    problems=[InvalidCursor],
)
async def list_purchases(request: web.Request) -> web.Response:
    """Purchases by `purchased_at`; technicians see those of their tasks only."""
    return await _list(request, PURCHASES, read_query(request, RecordQuery))


@routes.post("/purchases")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Record a purchase",
    body=PurchaseCreate,
    responses={201: PurchaseRead, 200: PurchaseRead},
    problems=[RecordExists, *WRITE_PROBLEMS],
)
async def create_purchase(request: web.Request) -> web.Response:
    """Record a purchase (for a task, or on its own: staff and admins only).

    With line items, `amount_minor` must be their total. A purchase for a task
    adds `purchase_added` to its timeline, stamped with `client_time` and `geo`.
    The same id and body again answers the stored one (200); other values: 409.
    """
    return await _create(request, PURCHASES, await parse_body(request, PurchaseCreate))


@routes.get("/purchases/{purchase_id}")
@requires(Permission.TASKS_READ)
@describe(
    summary="Read a purchase",
    path=PurchasePath,
    responses={200: PurchaseRead},
    problems=[PURCHASES.missing],
)
async def get_purchase(request: web.Request) -> web.Response:
    record_id = record_id_of(request, PURCHASES)
    return answer(await service(request).get(principal(request), PURCHASES, record_id))


@routes.patch("/purchases/{purchase_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Change a purchase",
    path=PurchasePath,
    body=PurchasePatch,
    headers=IF_MATCH,
    responses={200: PurchaseRead},
    problems=[
        PURCHASES.missing,
        StaleRecord,
        StaleRecordUpdatedAt,
        NothingToChange,
        *WRITE_PROBLEMS,
    ],
)
async def patch_purchase(request: web.Request) -> web.Response:
    """Change some fields; `If-Match` (412) or `updated_at` (409) guard against lost updates."""
    return await _patch(request, PURCHASES, PurchasePatch)


@routes.delete("/purchases/{purchase_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Delete a purchase",
    path=PurchasePath,
    headers=IF_MATCH,
    responses={204: None},
    problems=[PURCHASES.missing, StaleRecord],
)
async def delete_purchase(request: web.Request) -> web.Response:
    return await _delete(request, PURCHASES)


@routes.get("/tasks/{task_id}/purchases")
@requires(Permission.TASKS_READ)
@describe(
    summary="A task's purchases, receipts and totals",
    path=TaskPath,
    responses={200: TaskFinance},
    problems=[TaskNotFound],
)
async def task_purchases(request: web.Request) -> web.Response:
    """Every purchase and receipt of the task (up to 1,000 each), with totals per currency."""
    return web.json_response(
        await service(request).of_task(principal(request), task_id_of(request))
    )


@routes.post("/tasks/{task_id}/purchases")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Record a purchase for a task",
    path=TaskPath,
    body=PurchaseFields,
    responses={201: PurchaseRead, 200: PurchaseRead},
    problems=[RecordExists, TaskNotFound, *WRITE_PROBLEMS],
)
async def create_task_purchase(request: web.Request) -> web.Response:
    """As `POST /purchases`, for the task in the path."""
    task_id = task_id_of(request)
    body = await parse_body(request, PurchaseFields)
    return await _create(request, PURCHASES, body, task_id)  # 404 for a task out of reach


@routes.get("/tasks/{task_id}/totals")
@requires(Permission.TASKS_READ)
@describe(
    summary="A task's totals per currency",
    path=TaskPath,
    responses={200: TaskTotals},
    problems=[TaskNotFound],
)
async def task_totals(request: web.Request) -> web.Response:
    """Purchases and receipts of the task summed per currency (never across currencies)."""
    return web.json_response(
        await service(request).task_totals(principal(request), task_id_of(request))
    )


# --- receipts -----------------------------------------------------------------------


@routes.get("/receipts")
@requires(Permission.TASKS_READ)
@describe(
    summary="List receipts",
    query=ReceiptListQuery,
    responses={200: ReceiptPage},
    problems=[InvalidCursor],
)
async def list_receipts(request: web.Request) -> web.Response:
    """Receipts by `issued_at`; technicians see those of their tasks only."""
    return await _list(request, RECEIPTS, read_query(request, ReceiptQuery))


@routes.post("/receipts")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Record a receipt",
    body=ReceiptCreate,
    responses={201: ReceiptRead, 200: ReceiptRead},
    problems=[RecordExists, *WRITE_PROBLEMS],
)
async def create_receipt(request: web.Request) -> web.Response:
    """Record the receipt of a purchase: in the purchase's currency, for its task
    (taken from the purchase when left out). Adds `receipt_added` to the timeline."""
    return await _create(request, RECEIPTS, await parse_body(request, ReceiptCreate))


@routes.get("/receipts/{receipt_id}")
@requires(Permission.TASKS_READ)
@describe(
    summary="Read a receipt",
    path=ReceiptPath,
    responses={200: ReceiptRead},
    problems=[RECEIPTS.missing],
)
async def get_receipt(request: web.Request) -> web.Response:
    record_id = record_id_of(request, RECEIPTS)
    return answer(await service(request).get(principal(request), RECEIPTS, record_id))


@routes.patch("/receipts/{receipt_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Change a receipt",
    path=ReceiptPath,
    body=ReceiptPatch,
    headers=IF_MATCH,
    responses={200: ReceiptRead},
    problems=[
        RECEIPTS.missing,
        StaleRecord,
        StaleRecordUpdatedAt,
        NothingToChange,
        *WRITE_PROBLEMS,
    ],
)
async def patch_receipt(request: web.Request) -> web.Response:
    """Change some fields; `If-Match` (412) or `updated_at` (409) guard against lost updates."""
    return await _patch(request, RECEIPTS, ReceiptPatch)


@routes.delete("/receipts/{receipt_id}")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Delete a receipt",
    path=ReceiptPath,
    headers=IF_MATCH,
    responses={204: None},
    problems=[RECEIPTS.missing, StaleRecord],
)
async def delete_receipt(request: web.Request) -> web.Response:
    return await _delete(request, RECEIPTS)
