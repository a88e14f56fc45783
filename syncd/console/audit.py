"""The audit log: filter by action, actor, target and time (in the tenant's zone); pages.

GET /console/audit   audit:read (as GET /admin/audit)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from syncd import appkeys
from syncd.admin.service import AuditQuery, read_audit
from syncd.auth.permissions import Permission
from syncd.console.directory import people
from syncd.console.forms import page
from syncd.console.i18n import zone
from syncd.console.render import render, speech
from syncd.web.body import validate
from syncd.web.cursors import DEFAULT_LIMIT
from syncd.web.keys import principal

routes = web.RouteTableDef()


class AuditFilters(BaseModel):
    """The page's query string; `since` and `until` are local times of the tenant's zone."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: str | None = Field(None, max_length=64)
    actor: uuid.UUID | None = None
    target_type: str | None = Field(None, max_length=32)
    target_id: str | None = Field(None, max_length=100)
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = Field(None, max_length=500)

    def query(self) -> dict[str, str]:
        shown = self.model_dump(exclude={"cursor"}, exclude_none=True)
        return {
            name: value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else str(value)
            for name, value in shown.items()
        }


def _in_zone(moment: datetime | None, time_zone: str) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(time_zone))


@routes.get("/console/audit")
@page(Permission.AUDIT_READ)
async def audit(request: web.Request) -> web.Response:
    who = principal(request)
    given = {name: value for name, value in request.query.items() if value != ""}
    filters = validate(AuditFilters, given)
    time_zone = speech(request).time_zone
    query = validate(
        AuditQuery,
        {
            "action": filters.action,
            "actor_id": filters.actor,
            "target_type": filters.target_type,
            "target_id": filters.target_id,
            "since": _in_zone(filters.since, time_zone),
            "until": _in_zone(filters.until, time_zone),
        },
    )
    found = await read_audit(
        request.app[appkeys.SESSIONS], who.tenant_id, query, filters.cursor, DEFAULT_LIMIT
    )
    context: dict[str, Any] = {
        "filters": filters,
        "query": filters.query(),
        "entries": found.items,
        "next_cursor": found.next_cursor,
        "people": await people(request, who),
    }
    return render(request, "audit.html", context)
