"""The conflict inbox: list with filters, a field diff, resolve one or many.

    GET  /console/inbox                       the list (status, entity, user, device, age)
    GET  /console/inbox/rows                  the list's rows alone (for the live update)
    GET  /console/conflicts/{id}              base, server and device values side by side
    POST /console/conflicts/{id}/resolve      keep_server, take_client or custom values
    POST /console/conflicts/resolve           the same choice for many (up to 200)

All `conflicts:manage`, through `ConflictInbox` as the REST routes are: a
resolution is a change through the sync service's write path, audited.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocol.entities import ENTITIES, FieldErrors
from storage.types import utcnow
from syncd import appkeys, metrics
from syncd.auth.permissions import Permission
from syncd.console.directory import device_owners, people
from syncd.console.forms import MAX_FIELD, Form, local_next, page, read_form, with_notice
from syncd.console.live import STREAMS
from syncd.console.render import render, see_other, speech
from syncd.i18n import Msg
from syncd.sync.inbox import ConflictNotFound, ResolutionInvalid
from syncd.web import keys
from syncd.web.body import path_uuid, validate
from syncd.web.cursors import DEFAULT_LIMIT
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.problems import Problem, ValidationFailed

routes = web.RouteTableDef()

Choice = Literal["keep_server", "take_client", "custom"]
CHOICES: dict[str | None, Choice] = {
    "keep_server": "keep_server",
    "take_client": "take_client",
    "custom": "custom",
}
AGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
AGES["30d"] = timedelta(days=30)
MAX_BULK = 200


class InboxFilters(BaseModel):
    """The inbox's query string; an empty value means "any"."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: Literal["open", "resolved", "all"] = "open"
    entity: str | None = Field(None, max_length=32)
    user: uuid.UUID | None = None
    device: str | None = Field(None, max_length=100)
    age: Literal["1h", "24h", "7d", "30d"] | None = None
    cursor: str | None = Field(None, max_length=500)

    @field_validator("entity")
    @classmethod
    def _known_entity(cls, value: str | None) -> str | None:
        if value is not None and value not in ENTITIES:
            raise ValueError(f"no entity {value!r}")
        return value

    def service_filters(self) -> dict[str, Any]:
        return {
            "status": None if self.status == "all" else self.status,
            "entity": self.entity,
            "user_id": self.user,
            "client_id": self.device,
            "since": utcnow() - AGES[self.age] if self.age else None,
        }

    def query(self) -> dict[str, str]:
        """The filters as a query string (without the cursor)."""
        shown = self.model_dump(exclude={"cursor"}, exclude_none=True, mode="json")
        return {name: str(value) for name, value in shown.items()}


def filters_of(request: web.Request) -> InboxFilters:
    given = {name: value for name, value in request.query.items() if value != ""}
    return validate(InboxFilters, given)


async def _listing(request: web.Request) -> dict[str, Any]:
    who = principal(request)
    filters = filters_of(request)
    found = await request.app[appkeys.INBOX].list_conflicts(
        who, filters.service_filters(), filters.cursor, DEFAULT_LIMIT
    )
    return {
        "filters": filters,
        "query": filters.query(),
        "conflicts": found["items"],
        "next_cursor": found["next_cursor"],
        "people": await people(request, who),
        "entities": sorted(ENTITIES),
        "ages": list(AGES),
    }


@routes.get("/console/inbox")
@page(Permission.CONFLICTS_MANAGE)
async def inbox(request: web.Request) -> web.Response:
    context = await _listing(request)
    context["notice"] = request.query.get("notice")
    context["mark"] = (await request.app[appkeys.INBOX].watermark(principal(request)))[1] or ""
    return render(request, "inbox.html", context)


@routes.get("/console/inbox/rows")
@page(Permission.CONFLICTS_MANAGE)
async def inbox_rows(request: web.Request) -> web.Response:
    return render(request, "inbox_rows.html", await _listing(request))


def conflict_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "conflict_id",
        lambda raw: ConflictNotFound(Msg("no conflict {conflict_id}", conflict_id=raw)),
    )


async def _conflict_page(
    request: web.Request,
    conflict_id: uuid.UUID,
    problem: Problem | None = None,
    typed: dict[str, str] | None = None,
) -> web.Response:
    who = principal(request)
    detail = await request.app[appkeys.INBOX].detail(who, conflict_id)
    shown = None
    if problem is not None:
        shown = problem.body(request.path, request.get(keys.REQUEST_ID), speech(request).locale)
    context = {
        "conflict": detail,
        "people": await people(request, who),
        "owners": await device_owners(request, who),
        "problem": shown,
        "typed": typed or {},
        "notice": request.query.get("notice"),
        "statuses": ["open", "assigned", "in_progress", "paused", "completed", "rejected"],
    }
    return render(request, "conflict.html", context, status=problem.status if problem else 200)


@routes.get("/console/conflicts/{conflict_id}")
@page(Permission.CONFLICTS_MANAGE)
async def conflict(request: web.Request) -> web.Response:
    return await _conflict_page(request, conflict_id_of(request))


def custom_values(entity: str, form: Form, fields: list[str]) -> dict[str, Any]:
    """The custom values typed for `fields`: text where the field takes text, else JSON
    (`1500`, `[...]`, `true`); the inbox validates them as a device's would be."""
    values: dict[str, Any] = {}
    for name in fields:
        raw = form.get(f"value.{name}", MAX_FIELD)
        if raw is None:
            continue
        value: Any = raw
        try:
            ENTITIES[entity].validate({name: raw}, creating=False)
        except FieldErrors:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw  # the inbox answers why it does not fit
        values[name] = value
    return values


@routes.post("/console/conflicts/{conflict_id}/resolve")
@page(Permission.CONFLICTS_MANAGE)
async def resolve(request: web.Request) -> web.Response:
    conflict_id = conflict_id_of(request)
    form = await read_form(request)
    conflicts = request.app[appkeys.INBOX]
    choice = CHOICES.get(form.get("resolution", 20))
    if choice is None:
        raise ValidationFailed(
            Msg("resolution is keep_server, take_client or custom"),
            errors=[{"field": "resolution", "code": "enum", "message": "?"}],
        )
    values = None
    typed: dict[str, str] = {}
    if choice == "custom":
        detail = await conflicts.detail(principal(request), conflict_id)
        fields = ["status"] if detail["kind"] == "stale_action" else list(detail["fields"])
        values = custom_values(detail["entity"], form, fields)
        typed = {name: form.get(f"value.{name}", MAX_FIELD) or "" for name in fields}
    try:
        await conflicts.resolve(
            origin_of(request), principal(request), [conflict_id], choice, values
        )
    except (ValidationFailed, ResolutionInvalid) as refused:
        return await _conflict_page(request, conflict_id, refused, typed)
    metrics.count_resolved(request.app, choice, 1)
    request.app[STREAMS].nudge(principal(request).tenant_id)
    return see_other(request, with_notice(f"/console/conflicts/{conflict_id}", "resolved"))


@routes.post("/console/conflicts/resolve")
@page(Permission.CONFLICTS_MANAGE)
async def resolve_many(request: web.Request) -> web.Response:
    form = await read_form(request)
    choice = CHOICES.get(form.get("resolution", 20))
    if choice is None or choice == "custom":
        raise ValidationFailed(
            Msg("resolution is keep_server or take_client"),
            errors=[{"field": "resolution", "code": "enum", "message": "?"}],
        )
    raw_ids = form.all("ids", 36)
    if not raw_ids or len(raw_ids) > MAX_BULK:
        raise ValidationFailed(
            Msg("choose from 1 to {max} conflicts", max=MAX_BULK),
            errors=[{"field": "ids", "code": "count", "message": str(len(raw_ids))}],
        )
    try:
        ids = list(dict.fromkeys(uuid.UUID(raw) for raw in raw_ids))
    except ValueError:
        raise ValidationFailed(
            Msg("ids must be UUIDs"),
            errors=[{"field": "ids", "code": "uuid_parsing", "message": "not a UUID"}],
        ) from None
    answers = await request.app[appkeys.INBOX].resolve(
        origin_of(request), principal(request), ids, choice
    )
    metrics.count_resolved(request.app, choice, len(answers))
    request.app[STREAMS].nudge(principal(request).tenant_id)
    back = form.get("back", 2000)
    return see_other(request, with_notice(local_next(back, "/console/inbox"), "resolved_many"))
