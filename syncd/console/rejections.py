"""Rejected changes: the change and its problem; replay once the cause is fixed, or dismiss.

GET  /console/rejections                   conflicts:manage (as GET /sync/rejections)
POST /console/rejections/{id}/replay       conflicts:manage, through SyncAdmin.replay
POST /console/rejections/{id}/dismiss      conflicts:manage
"""

from __future__ import annotations

import uuid
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from syncd import appkeys
from syncd.auth.permissions import Permission
from syncd.console.directory import people
from syncd.console.forms import local_next, page, read_form, with_notice
from syncd.console.render import render, see_other, speech
from syncd.i18n import Msg
from syncd.sync.admin import RejectionNotFound
from syncd.web.body import path_uuid, validate
from syncd.web.cursors import DEFAULT_LIMIT
from syncd.web.keys import principal
from syncd.web.origin import origin_of

routes = web.RouteTableDef()


class RejectionFilters(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: Literal["open", "replayed", "dismissed", "all"] = "open"
    device: str | None = Field(None, max_length=100)
    cursor: str | None = Field(None, max_length=500)


@routes.get("/console/rejections")
@page(Permission.CONFLICTS_MANAGE)
async def rejections(request: web.Request) -> web.Response:
    who = principal(request)
    given = {name: value for name, value in request.query.items() if value != ""}
    filters = validate(RejectionFilters, given)
    found = await request.app[appkeys.SYNC_ADMIN].rejections(
        who,
        None if filters.status == "all" else filters.status,
        filters.device,
        filters.cursor,
        DEFAULT_LIMIT,
        speech(request).locale,
    )
    query = filters.model_dump(exclude={"cursor"}, exclude_none=True)
    return render(
        request,
        "rejections.html",
        {
            "filters": filters,
            "query": query,
            "rejections": found["items"],
            "next_cursor": found["next_cursor"],
            "people": await people(request, who),
            "notice": request.query.get("notice"),
        },
    )


def rejection_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "rejection_id",
        lambda raw: RejectionNotFound(Msg("no rejected change {rejection_id}", rejection_id=raw)),
    )


@routes.post("/console/rejections/{rejection_id}/replay")
@page(Permission.CONFLICTS_MANAGE)
async def replay(request: web.Request) -> web.Response:
    rejection_id = rejection_id_of(request)
    form = await read_form(request)
    answer = await request.app[appkeys.SYNC_ADMIN].replay(
        origin_of(request), principal(request), rejection_id, speech(request).locale
    )
    notice = "replayed" if answer["status"] == "replayed" else "still_rejected"
    back = local_next(form.get("back", 2000), "/console/rejections")
    return see_other(request, with_notice(back, notice))


@routes.post("/console/rejections/{rejection_id}/dismiss")
@page(Permission.CONFLICTS_MANAGE)
async def dismiss(request: web.Request) -> web.Response:
    rejection_id = rejection_id_of(request)
    form = await read_form(request)
    await request.app[appkeys.SYNC_ADMIN].dismiss(
        origin_of(request), principal(request), rejection_id
    )
    back = local_next(form.get("back", 2000), "/console/rejections")
    return see_other(request, with_notice(back, "dismissed"))
