"""HTTP routes of the changeset protocol: POST /sync/push, GET /sync/pull."""

from __future__ import annotations

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from protocol.changes import PushRequest
from protocol.hlc import NODE_PATTERN
from syncd import appkeys, metrics
from syncd.auth.permissions import Permission, requires
from syncd.openapi import describe
from syncd.sync.client_schema import ClientUpgradeRequired, UnknownSchema, query_schema
from syncd.sync.errors import BatchTooLarge, ClientIdTaken, InvalidSyncCursor
from syncd.sync.localize import localized
from syncd.sync.schemas import PullPage, PushAnswer, PushBody, TasksPushAnswer
from syncd.web.body import parse_body
from syncd.web.keys import principal
from syncd.web.middlewares import problem_locale
from syncd.web.query import read_query

routes = web.RouteTableDef()

DEFAULT_PULL_LIMIT = 500
MAX_PULL_LIMIT = 5_000
PUSH_PROBLEMS = [BatchTooLarge, ClientIdTaken, ClientUpgradeRequired, UnknownSchema]


class PullQuery(BaseModel):
    """The pull's query string, for the document."""

    since: str | None = Field(None, description="the cursor of the last page; omit to start")
    limit: int = Field(DEFAULT_PULL_LIMIT, ge=1, le=MAX_PULL_LIMIT)
    client_id: str | None = Field(
        None, pattern=rf"^{NODE_PATTERN}$", description="records this device's progress"
    )
    app_schema: int | None = Field(
        None,
        alias="schema",
        ge=1,
        description="the app schema rows are shaped to (docs/protocol.md, Schema versions); "
        "omitted: 1, the oldest",
    )


@routes.post("/sync/push")
@requires(Permission.SYNC)
@describe(
    summary="Push a batch of changes",
    body=PushBody,
    responses={200: PushAnswer},
    problems=PUSH_PROBLEMS,
    description="See docs/protocol.md, Push: merge rules, results, idempotency.",
)
async def push(request: web.Request) -> web.Response:
    body = await parse_body(request, PushRequest, each=["changes"])
    answer = await request.app[appkeys.SYNC].push(
        principal(request), body, request.headers.get("User-Agent")
    )
    metrics.count_push(request.app, "push", answer)
    answer = localized(answer, problem_locale(request))
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


@routes.post("/sync/tasks")
@requires(Permission.SYNC)
@describe(
    summary="Push queued offline task writes",
    body=PushBody,
    responses={200: TasksPushAnswer},
    problems=PUSH_PROBLEMS,
)
async def push_tasks(request: web.Request) -> web.Response:
    """A batch of queued offline task writes: push restricted to tasks, with conflict info."""
    body = await parse_body(request, PushRequest, each=["changes"])
    answer = await request.app[appkeys.SYNC].push(
        principal(request), body, request.headers.get("User-Agent"), only_entity="task"
    )
    metrics.count_push(request.app, "tasks", answer)
    answer = localized(answer, problem_locale(request))
    conflicts = [
        {
            "id": result["id"],
            "status": result["status"],
            "conflict_id": result.get("conflict_id"),
            "server": result.get("current"),
            "updated_at": (result.get("current") or {}).get("updated_at"),
        }
        for result in answer["results"]
        if result["status"] in ("conflict", "superseded")
    ]
    return web.json_response({**answer, "conflicts": conflicts})


@routes.get("/sync/pull")
@requires(Permission.SYNC)
@describe(
    summary="Pull changes after a cursor",
    query=PullQuery,
    responses={200: PullPage},
    problems=[InvalidSyncCursor, ClientUpgradeRequired, UnknownSchema],
    description="See docs/protocol.md, Pull: snapshot, ordering, scope. "
    "Keep pulling while `has_more`.",
)
async def pull(request: web.Request) -> web.Response:
    query = read_query(request, PullQuery, own={"schema"})  # unknown_schema, its own code
    answer = await request.app[appkeys.SYNC].pull(
        principal(request),
        query.since,
        query.limit,
        query.client_id,
        query_schema(request.query.get("schema")),
    )
    metrics.count_pull(request.app, answer)
    return web.Response(body=orjson.dumps(answer), content_type="application/json")
