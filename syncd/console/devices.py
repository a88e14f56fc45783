"""Devices: each with its user, last contact, lag, last push, app schema, and an
alert when it has been silent, or has had a rejected change open, for longer
than CONSOLE_DEVICE_ALERT_SECONDS, or runs an app below the minimum schema.

    GET /console/devices   conflicts:manage (as GET /sync/devices)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from storage.types import utcnow
from syncd import appkeys
from syncd.auth.permissions import Permission
from syncd.console.forms import page
from syncd.console.render import render
from syncd.web.keys import principal

routes = web.RouteTableDef()


def health(
    device: dict[str, Any],
    open_rejections: tuple[int, datetime] | None,
    alert_s: int,
    now: datetime,
) -> dict[str, Any]:
    """The device as the page shows it: `silent` and `failing` flags beside its values."""
    limit = timedelta(seconds=alert_s)
    last_seen = datetime.fromisoformat(device["last_seen_at"].replace("Z", "+00:00"))
    count, since = open_rejections if open_rejections is not None else (0, None)
    return {
        **device,
        "silent": now - last_seen > limit,
        "failing": since is not None and now - since > limit,
        "open_rejections": count,
        "failing_since": since,
    }


@routes.get("/console/devices")
@page(Permission.CONFLICTS_MANAGE)
async def devices(request: web.Request) -> web.Response:
    who = principal(request)
    admin = request.app[appkeys.SYNC_ADMIN]
    found = await admin.devices(who)
    rejections = await admin.open_rejections_by_device(who)
    alert_s = request.app[appkeys.SETTINGS].console_device_alert_s
    now = utcnow()
    items = [
        health(item, rejections.get(item["client_id"]), alert_s, now) for item in found["items"]
    ]
    return render(
        request,
        "devices.html",
        {
            "tenant_version": found["tenant_version"],
            "devices": items,
            "alert_hours": round(alert_s / 3600, 1),
            "alerts": sum(
                1 for item in items if item["silent"] or item["failing"] or item["upgrade_required"]
            ),
            "minimum_schema": found["minimum_schema"],
            "current_schema": found["current_schema"],
        },
    )
