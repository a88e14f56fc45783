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
count together (syncd/fair_limits.py).
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web
from sqlalchemy import select

from protocol.entities import ENTITIES, ydoc_name
from storage.models import Task
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.auth import tokens
from syncd.auth.errors import PermissionDenied
from syncd.auth.permissions import Permission, public, role_allows
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.sockets.auth import offered_token, origin_allowed
from syncd.sync.scope import Scope
from syncd.web.problems import NotFound, Problem, TenantMismatch, TenantNotFound
from syncd.yjs import session as codes
from syncd.yjs.session import YjsSession

SUBPROTOCOL = "syncd.yjs"
DOCUMENT = re.compile(r"(?P<entity>[a-z_]+):(?P<id>[0-9a-fA-F-]{36}):(?P<field>[a-z_]+)")


class Refused(Exception):
    """The socket must close with `code` before joining any room."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_document(name: str) -> tuple[str, uuid.UUID, str] | None:
    """(entity, id, field) of a well-formed collaborative document name, else None."""
    match = DOCUMENT.fullmatch(name)
    spec = ENTITIES.get(match["entity"]) if match is not None else None
    if match is None or spec is None or match["field"] not in spec.ydoc_fields:
        return None
    try:
        return match["entity"], uuid.UUID(match["id"]), match["field"]
    except ValueError:
        return None


async def authenticate(request: web.Request, token: str | None) -> Principal:
    if not token:
        raise Refused(codes.CLOSE_TOKEN, "no token")
    settings = request.app[appkeys.SETTINGS]
    try:
        claims = tokens.decode_access(token, settings.jwt_access_secret, settings.jwt_issuer)
    except tokens.TokenError as exc:
        raise Refused(codes.CLOSE_TOKEN, str(exc)[:120]) from None
    from syncd.web.tenant import named_tenant

    try:
        _, who = await request.app[appkeys.AUTH].principal_for(claims, named_tenant(request))
    except (TenantNotFound, TenantMismatch):
        raise Refused(codes.CLOSE_FORBIDDEN, "the token's tenant is not usable here") from None
    except Problem as problem:
        code = codes.CLOSE_TOKEN if problem.status == 401 else codes.CLOSE_FORBIDDEN
        raise Refused(code, (problem.detail or problem.title)[:120]) from None
    if not role_allows(who.role, Permission.SYNC):
        raise Refused(codes.CLOSE_FORBIDDEN, "this role may not sync")
    return who


async def authorise(request: web.Request, who: Principal, task_id: uuid.UUID) -> None:
    """The task exists in the principal's tenant and they may edit it."""
    async with TenantUnitOfWork(request.app[appkeys.SESSIONS], who.tenant_id) as uow:
        exists = await uow.session.scalar(
            select(Task.id).where(Task.id == task_id, Task.deleted_at.is_(None))
        )
        if exists is None:
            raise Refused(codes.CLOSE_NOT_FOUND, "no such document")
        if not (await Scope.load(uow.session, who)).sees_task(task_id):
            raise Refused(codes.CLOSE_FORBIDDEN, "the task is not assigned to you")


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
    if not origin_allowed(request):
        raise PermissionDenied("this Origin is not allowed")
    document = parse_document(request.match_info["document"])
    if document is None:
        raise NotFound(Msg("no such collaborative document"))
    settings = request.app[appkeys.SETTINGS]
    ws = web.WebSocketResponse(
        protocols=[SUBPROTOCOL],
        heartbeat=settings.ws_heartbeat_s,
        max_msg_size=settings.max_ws_frame_bytes,
        compress=False,
    )
    await ws.prepare(request)
    session = YjsSession(request, ws, request.app[appkeys.YJS], settings.ws_send_queue)
    limits = request.app.get(appkeys.LIMITS)
    counted: Principal | None = None
    try:
        who = await authenticate(request, offered_token(request))
        await authorise(request, who, document[1])
        if limits is not None:  # under the same socket caps as /sync/ws
            if (full := limits.open_socket(who.tenant_id)) is not None:
                raise Refused(codes.CLOSE_TOO_SLOW, full)
            counted = who
        await session.run(who, ydoc_name(*document))
    except Refused as refused:
        await session.close(refused.code, refused.reason)
    finally:
        if limits is not None and counted is not None:
            limits.close_socket(counted.tenant_id)
        if not ws.closed:
            await ws.close()
    return ws
