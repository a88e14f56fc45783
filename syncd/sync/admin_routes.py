"""Admin routes of sync health: devices, rejected changes, replay and dismissal."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.sync.admin import RejectionClosed, RejectionNotFound, ReplayImpossible
from syncd.sync.schemas import (
    DevicesRead,
    RejectionPage,
    RejectionPath,
    RejectionQuery,
    RejectionRead,
)
from syncd.web.body import path_uuid
from syncd.web.cursors import InvalidCursor
from syncd.web.keys import principal
from syncd.web.middlewares import problem_locale
from syncd.web.origin import origin_of
from syncd.web.pagination import page_params
from syncd.web.problems import ValidationFailed

routes = web.RouteTableDef()


@routes.get("/sync/devices")
@requires(Permission.CONFLICTS_MANAGE)
@describe(summary="Device health: who syncs, how far behind", responses={200: DevicesRead})
async def devices(request: web.Request) -> web.Response:
    return web.json_response(await request.app[appkeys.SYNC_ADMIN].devices(principal(request)))


@routes.get("/sync/rejections")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="List rejected changes",
    query=RejectionQuery,
    responses={200: RejectionPage},
    problems=[InvalidCursor],
)
async def rejections(request: web.Request) -> web.Response:
    cursor, limit = page_params(request)
    status = request.query.get("status")
    if status not in (None, "open", "replayed", "dismissed"):
        raise ValidationFailed(
            Msg("status is open, replayed or dismissed"),
            errors=[
                {
                    "field": "status",
                    "code": "enum",
                    "message": Msg("must be open, replayed or dismissed"),
                }
            ],
        )
    locale = problem_locale(request)
    answer = await request.app[appkeys.SYNC_ADMIN].rejections(
        principal(request), status, request.query.get("device"), cursor, limit, locale
    )
    return worded(answer, locale)


@routes.post("/sync/rejections/{rejection_id}/replay")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="Replay a rejected change on behalf of its user",
    path=RejectionPath,
    responses={200: RejectionRead},
    problems=[RejectionNotFound, RejectionClosed, ReplayImpossible, ValidationFailed],
    description="`status` is `replayed`, or still `open` with the new problem.",
)
async def replay(request: web.Request) -> web.Response:
    locale = problem_locale(request)
    answer = await request.app[appkeys.SYNC_ADMIN].replay(
        origin_of(request), principal(request), path_uuid(request, "rejection_id"), locale
    )
    return worded(answer, locale)


@routes.post("/sync/rejections/{rejection_id}/dismiss")
@requires(Permission.CONFLICTS_MANAGE)
@describe(
    summary="Dismiss a rejected change",
    path=RejectionPath,
    responses={200: RejectionRead},
    problems=[RejectionNotFound, RejectionClosed, ValidationFailed],
)
async def dismiss(request: web.Request) -> web.Response:
    locale = problem_locale(request)
    answer = await request.app[appkeys.SYNC_ADMIN].dismiss(
        origin_of(request), principal(request), path_uuid(request, "rejection_id"), locale
    )
    return worded(answer, locale)


def worded(answer: dict[str, Any], locale: str) -> web.Response:
    """A JSON answer whose problems are worded in `locale` (said in Content-Language)."""
    response = web.json_response(answer)
    response.headers["Content-Language"] = locale
    response.headers.add("Vary", "Accept-Language")
    return response
