"""What every WebSocket endpoint checks before it upgrades, and the upgrade.

Browsers cannot set headers on a WebSocket, so a token travels as a
`bearer.<token>` subprotocol or a `?token=` query parameter (the access log
redacts it). Native clients send no Origin; a browser's must be the server's
own or one of CORS_ORIGINS. Every socket gets the same heartbeat
(WS_HEARTBEAT_SECONDS), frame limit (MAX_WS_FRAME_BYTES, 1009 past it) and no
compression.
"""

from __future__ import annotations

from aiohttp import web

from syncd import appkeys
from syncd.auth.errors import PermissionDenied

TOKEN_PROTOCOL_PREFIX = "bearer."  # noqa: S105  (a prefix, not a secret)


def offered_token(request: web.Request) -> str | None:
    """The token of a `bearer.<token>` subprotocol, or of `?token=` (never logged)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for protocol in offered:
        if protocol.startswith(TOKEN_PROTOCOL_PREFIX):
            return protocol[len(TOKEN_PROTOCOL_PREFIX) :]
    return request.query.get("token")


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # native clients send none
    allowed = request.app[appkeys.SETTINGS].cors_origin_list
    return origin.split("://", 1)[-1] == request.host or "*" in allowed or origin in allowed


def refuse_foreign_origin(request: web.Request) -> None:
    """403 before the upgrade for a browser page of another origin."""
    if not origin_allowed(request):
        raise PermissionDenied("this Origin is not allowed")


async def upgrade(request: web.Request, subprotocol: str) -> web.WebSocketResponse:
    """Upgrade the request to a WebSocket speaking `subprotocol`, bounded as every socket is."""
    settings = request.app[appkeys.SETTINGS]
    ws = web.WebSocketResponse(
        protocols=[subprotocol],
        heartbeat=settings.ws_heartbeat_s,
        max_msg_size=settings.max_ws_frame_bytes,
        compress=False,
    )
    await ws.prepare(request)
    return ws
