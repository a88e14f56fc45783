"""The route of live sync: `GET /sync/ws` upgrades to a WebSocket whose session
(live.py) authenticates, reads the hello and streams. Close codes and
messages: docs/protocol.md."""

from __future__ import annotations

from aiohttp import web

from syncd.auth.errors import PermissionDenied
from syncd.auth.permissions import public
from syncd.openapi import describe
from syncd.sockets.auth import offered_token, refuse_foreign_origin, upgrade
from syncd.sync.live import LiveSession

SUBPROTOCOL = "syncd.v1"

routes = web.RouteTableDef()


@routes.get("/sync/ws")
@public  # the session authenticates itself before it reads anything else
@describe(
    summary="Live sync over WebSocket",
    responses={101: None},
    problems=[400, PermissionDenied],
    description="Upgrade to a WebSocket (subprotocol `syncd.v1`). Authenticate with a "
    "`bearer.<token>` subprotocol, `?token=` or an `auth` message, then send `hello` with "
    "your cursor. Messages and close codes: docs/protocol.md.",
)
async def live(request: web.Request) -> web.StreamResponse:
    refuse_foreign_origin(request)
    token = offered_token(request)
    ws = await upgrade(request, SUBPROTOCOL)
    session = LiveSession(request, ws)
    await session.handle(session.run(token))
    return ws
