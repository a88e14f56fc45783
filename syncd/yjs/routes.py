"""`GET /sync/yjs/{document}`: the standard y-websocket protocol for collaborative text.

The document is named `<entity>:<uuid>:<field>` (today `task:<uuid>:notes`:
the entities' `ydoc_fields`, protocol/entities.py). The socket is upgraded
first, then authenticated (a
`bearer.<token>` subprotocol offered beside `syncd.yjs`, or `?token=`, which
the access log redacts and nothing else logs) and authorised against the task:
staff and admins edit any task of their tenant, technicians only tasks
assigned to them. Close codes (docs/protocol.md): 1009 frame too big, 1011
update not stored (reconnect), 1012 server restarting, 4400 malformed
message, 4401 token missing, invalid or expired, 4403 forbidden, 4404 no such
document (also for another tenant's task: it learns nothing), 4429 too slow,
or the tenant's (TENANT_MAX_LIVE_SOCKETS) or the process's
(PROCESS_MAX_LIVE_SOCKETS) sockets are all taken: /sync/ws and /sync/yjs
count together (syncd/sockets/caps.py). The socket's skeleton is the
WebSocket kit's (syncd/sockets/owned.py): a `Refused` raised while
authenticating or authorising closes it with its code.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from protocol.entities import ydoc_name
from syncd import appkeys
from syncd.auth import tokens
from syncd.auth.errors import PermissionDenied
from syncd.auth.permissions import Permission, public, role_allows
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.sockets.auth import offered_token, refuse_foreign_origin, upgrade
from syncd.sockets.close import Close, Refused
from syncd.web.problems import NotFound, Problem, TenantMismatch, TenantNotFound
from syncd.yjs.schemas import parse_document
from syncd.yjs.service import authorise
from syncd.yjs.session import YjsSession

SUBPROTOCOL = "syncd.yjs"


async def authenticate(request: web.Request, token: str | None) -> Principal:
    if not token:
        raise Refused(Close.TOKEN, "no token")
    settings = request.app[appkeys.SETTINGS]
    try:
        claims = tokens.decode_access(token, settings.jwt_access_secret, settings.jwt_issuer)
    except tokens.TokenError as exc:
        raise Refused(Close.TOKEN, str(exc)) from None
    from syncd.web.tenant import named_tenant

    try:
        _, who = await request.app[appkeys.AUTH].principal_for(claims, named_tenant(request))
    except (TenantNotFound, TenantMismatch):
        raise Refused(Close.FORBIDDEN, "the token's tenant is not usable here") from None
    except Problem as problem:
        code = Close.TOKEN if problem.status == 401 else Close.FORBIDDEN
        raise Refused(code, problem.detail or problem.title) from None
    if not role_allows(who.role, Permission.SYNC):
        raise Refused(Close.FORBIDDEN, "this role may not sync")
    return who


routes = web.RouteTableDef()


@routes.get("/sync/yjs/{document}")
@public  # the socket authenticates itself before it joins a document
@describe(
    summary="Collaborative text over the y-websocket protocol",
    responses={101: None},
    problems=[PermissionDenied, NotFound],
    description="Upgrade to a WebSocket speaking the standard y-websocket protocol for the "
    "document `task:<uuid>:notes`. Authenticate with `?token=` or a `bearer.<token>` "
    "subprotocol offered beside `syncd.yjs`. Close codes: docs/protocol.md.",
)
async def yjs_document(request: web.Request) -> web.StreamResponse:
    refuse_foreign_origin(request)
    document = parse_document(request.match_info["document"])
    if document is None:
        raise NotFound(Msg("no such collaborative document"))
    ws = await upgrade(request, SUBPROTOCOL)
    session = YjsSession(
        request, ws, request.app[appkeys.YJS], request.app[appkeys.SETTINGS].ws_send_queue
    )
    await session.handle(edit(request, session, document))
    return ws


async def edit(
    request: web.Request, session: YjsSession, document: tuple[str, uuid.UUID, str]
) -> None:
    """Authenticate, authorise, count the socket in, then edit the document."""
    who = await authenticate(request, offered_token(request))
    await authorise(request.app[appkeys.SESSIONS], who, document[1])
    async with session.counted(who):  # under the same socket caps as /sync/ws
        await session.run(who, ydoc_name(*document))
