"""What every WebSocket endpoint checks before it upgrades: the Origin, the token.

Browsers cannot set headers on a WebSocket, so a token travels as a
`bearer.<token>` subprotocol or a `?token=` query parameter (the access log
redacts it). Native clients send no Origin; a browser's must be the server's
own or one of CORS_ORIGINS.
"""

from __future__ import annotations

from aiohttp import web

from syncd import appkeys

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
