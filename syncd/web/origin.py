"""A request's origin, as the audit trail and the sessions record it: built by handlers."""

from __future__ import annotations

from aiohttp import web

from syncd.admin.audit import Origin
from syncd.web import keys
from syncd.web.client_ip import request_ip


def origin_of(request: web.Request) -> Origin:
    """The client's address (under TRUSTED_PROXIES), the request id, the User-Agent."""
    return Origin(
        ip=request_ip(request),
        request_id=request.get(keys.REQUEST_ID),
        user_agent=request.headers.get("User-Agent"),
    )
