"""HTTP routes of the conflict inbox (admins): list, read, resolve, resolve in bulk."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import ConfigDict, Field

from syncd import appkeys, metrics
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.sync.inbox import ConflictNotFound, ConflictResolved, ResolutionInvalid
from syncd.sync.schemas import (
    ConflictDetail,
    ConflictPage,
    ConflictPath,
    ConflictQuery,
    Resolved,
    ResolvedMany,
)
from syncd.web.body import Body, parse_body, parse_uuid, path_uuid
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.pagination import page_params
from syncd.web.problems import ValidationFailed
from syncd.web.query import query_datetime

routes = web.RouteTableDef()


class ResolveBody(Body):
    """`values` go with the `custom` resolution, and only with it."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "properties": {"resolution": {"enum": ["keep_server", "take_client"]}},
                    "not": {"required": ["values"]},
                },
                {
                    "properties": {
                        "resolution": {"const": "custom"},
                        "values": {"type": "object", "additionalProperties": True},
                    },
                    "required": ["values"],
                },
            ]
        }
    )

    resolution: Literal["keep_server", "take_client", "custom"]
    values: dict[str, Any] | None = None


class BulkResolveBody(Body):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=200)
    resolution: Literal["keep_server", "take_client"]


def _filters(request: web.Request) -> dict[str, Any]:
    query = request.query
    filters: dict[str, Any] = {
        "status": query.get("status"),
        "entity": query.get("entity"),
        "client_id": query.get("device"),
        "user_id": parse_uuid(query["user"], "user") if "user" in query else None,
    }
    if filters["status"] not in (None, "open", "resolved"):
        raise ValidationFailed(
            Msg("status is open or resolved"),
            errors=[
                {"field": "status", "code": "enum", "message": Msg("must be open or resolved")}
            ],
        )
    if "since" in query:
        filters["since"] = query_datetime(request, "since")
    return filters


@routes.get("/conflicts")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="List conflicts",
    query=ConflictQuery,
    responses={200: ConflictPage},
    problems=[InvalidCursor],
)
async def list_conflicts(request: web.Request) -> web.Response:
    cursor, limit = page_params(request)
    answer = await request.app[appkeys.INBOX].list_conflicts(
        principal(request), _filters(request), cursor, limit
    )
    return web.json_response(answer)


@routes.get("/conflicts/{conflict_id}")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="Read a conflict with its diff",
    path=ConflictPath,
    responses={200: ConflictDetail},
    problems=[ConflictNotFound, ValidationFailed],
)
async def get_conflict(request: web.Request) -> web.Response:
    conflict_id = path_uuid(request, "conflict_id")
    return web.json_response(
        await request.app[appkeys.INBOX].detail(principal(request), conflict_id)
    )


@routes.post("/conflicts/{conflict_id}/resolve")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="Resolve a conflict",
    path=ConflictPath,
    body=ResolveBody,
    responses={200: Resolved},
    problems=[ConflictNotFound, ConflictResolved, ResolutionInvalid],
    description="`values` go with `custom` only. The resolution is a logged change "
    "through the write path, so every device converges to it.",
)
async def resolve_conflict(request: web.Request) -> web.Response:
    conflict_id = path_uuid(request, "conflict_id")
    body = await parse_body(request, ResolveBody)
    if (body.resolution == "custom") != (body.values is not None):
        raise ValidationFailed(
            Msg("values go with the custom resolution, and only with it"),
            errors=[
                {
                    "field": "values",
                    "code": "values_mismatch",
                    "message": Msg("values go with the custom resolution, and only with it"),
                }
            ],
        )
    (answer,) = await request.app[appkeys.INBOX].resolve(
        origin_of(request), principal(request), [conflict_id], body.resolution, body.values
    )
    metrics.count_resolved(request.app, body.resolution, 1)
    return web.json_response(answer)


@routes.post("/conflicts/resolve")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="Resolve up to 200 conflicts in one transaction",
    body=BulkResolveBody,
    responses={200: ResolvedMany},
    problems=[ConflictNotFound, ConflictResolved, ResolutionInvalid],
)
async def resolve_many(request: web.Request) -> web.Response:
    body = await parse_body(request, BulkResolveBody)
    answers = await request.app[appkeys.INBOX].resolve(
        origin_of(request), principal(request), list(dict.fromkeys(body.ids)), body.resolution
    )
    metrics.count_resolved(request.app, body.resolution, len(answers))
    return web.json_response({"results": answers})
