"""Live sync over WebSocket: `GET /sync/ws`.

One session per socket, three owned tasks: the handler reads the socket (the
only reader), a streamer reads the change log from the client's cursor and
puts pages on a bounded send queue, and a sender writes that queue to the
socket (the only writer). Once caught up, the streamer follows the tenant's
shared feed (live_feed.py: one log read per commit for every socket of the
tenant, technicians' pages filtered by their scope) until the feed lets it
go to read for itself again. It reads a page only when the queue has room,
so a slow reader makes the server read less, never buffer more; a reader
whose queue stays full for WS_SLOW_CLIENT_SECONDS is closed with 4429 and
reconnects from its cursor. The registry of sessions and feeds is
live_sessions.py.

Close codes (docs/protocol.md): 1009 frame too big, 1011 server error
(reconnect), 1012 server restarting (reconnect), 4400 protocol error (also a
cursor this server did not make), 4401 token expired or invalid (refresh and
reconnect), 4403 forbidden (user deactivated), 4408 no hello in time, 4409 superseded (the
user opened more than WS_MAX_SOCKETS_PER_USER sockets: the oldest is closed),
4426 upgrade required (the hello's schema is below the minimum; an `error`
frame with the problem first), 4429 too slow (reconnect and catch up from the
cursor), or the tenant holds TENANT_MAX_LIVE_SOCKETS sockets in this process, or
the process PROCESS_MAX_LIVE_SOCKETS (syncd/sockets/caps.py: reconnect later,
with backoff).

The socket's skeleton (its close request, the order its tasks stop in, the
caps it is counted under) is the WebSocket kit's, syncd/sockets/owned.py,
shared with /sync/yjs; a `Refused` raised while authenticating closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web
from pydantic import ValidationError

from protocol import bounds, versions
from protocol.changes import PushRequest
from syncd import appkeys, metrics
from syncd.auth import tokens
from syncd.fair_limits import LIMITS
from syncd.i18n import Msg, choose_locale
from syncd.sockets.close import Close, Refused
from syncd.sockets.owned import OwnedSocket
from syncd.sync.client_schema import ClientUpgradeRequired
from syncd.sync.cursor import Cursor, version_of
from syncd.sync.errors import InvalidSyncCursor
from syncd.sync.live_auth import authenticate, socket_locale
from syncd.sync.live_feed import PAGE, TenantFeed
from syncd.sync.localize import localized, problem_in
from syncd.sync.scope import Scope
from syncd.sync.service import SyncService
from syncd.web.body import bounds_error, field_errors
from syncd.web.field_messages import bounds_message
from syncd.web.problems import Problem

log = structlog.get_logger("syncd.live")


class LiveSession(OwnedSocket):
    kind = "ws"

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        super().__init__(request, ws)
        app = request.app
        self.settings = app[appkeys.SETTINGS]
        self.sync: SyncService = app[appkeys.SYNC]
        self.queue: asyncio.Queue[dict[str, Any] | str | None] = asyncio.Queue(
            maxsize=self.settings.ws_send_queue
        )
        self.scope: Scope | None = None  # as of the session's last own read
        self.client_id: str | None = None
        self.schema = versions.CURRENT  # the hello's app schema, once accepted
        # The socket's language: the upgrade's Accept-Language until the hello (`_speak`).
        self.locale = choose_locale(request.headers.get("Accept-Language"))
        self.tenant_locale: str | None = None
        self.cursor: str | None = None
        self.released = asyncio.Event()  # set when the tenant feed lets this session go

    # --- as a follower of the tenant feed (live_feed.py) --------------------------------

    @property
    def version(self) -> int:
        return version_of(self.cursor)

    def offer(self, frame: str | None, cursor: str) -> bool:
        if frame is not None:
            if self.closing or self.queue.full():
                return False
            self.queue.put_nowait(frame)
        self.cursor = cursor
        return True

    def release(self) -> None:
        self.released.set()

    # --- lifecycle (the skeleton: syncd/sockets/owned.py) ---------------------------

    async def run(self, token: str | None) -> None:
        """Authenticate and read the hello, then serve under the socket caps."""
        if not await self._hello(token):
            return  # the socket ended (or was closed) before its hello
        assert self.who is not None
        sessions = self.request.app[appkeys.LIVE]
        async with self.counted(self.who):
            sessions.add(self, self.settings.ws_max_sockets_per_user)
            try:
                await self.serve(
                    self._reader(),
                    sender=self._sender(),
                    streamer=self._streamer(),
                    expiry=self.expiry(),
                )
            finally:
                sessions.discard(self)

    async def _hello(self, token: str | None) -> bool:
        """Authenticate (subprotocol, query or an `auth` message) and read `hello`
        (False if the socket ended first), or raise Refused. A token offered with
        the upgrade is checked at once: a bad one closes with 4401 without waiting
        for a hello."""
        if token:
            await self._sign_in(token)
        deadline = self.settings.ws_hello_timeout_s
        try:
            message = await self._receive_json(wait_s=deadline)
            if message is not None and message.get("type") == "auth":
                token, self.who = str(message.get("token") or ""), None
                message = await self._receive_json(wait_s=deadline)
        except TimeoutError:
            raise Refused(Close.HELLO_TIMEOUT, "no hello in time") from None
        if message is None:
            return False
        if message.get("type") != "hello":
            raise Refused(Close.PROTOCOL, "the first message must be hello (or auth)")
        if not token:
            raise Refused(Close.TOKEN, "no token")
        if self.who is None:
            await self._sign_in(token)
        self._speak(message.get("locale"))
        await self._accept_schema(message.get("schema"))
        client_id = message.get("client_id")
        self.client_id = str(client_id) if client_id else None
        cursor = message.get("cursor")
        self.cursor = str(cursor) if cursor not in (None, "", 0, "0") else None
        try:
            Cursor.decode(self.cursor)
        except InvalidSyncCursor as exc:
            raise Refused(Close.PROTOCOL, f"invalid cursor: {exc.detail}") from None
        return True

    def _speak(self, hello_locale: Any) -> None:
        assert self.who is not None
        self.locale = socket_locale(self.request, self.who, self.tenant_locale, hello_locale)

    async def _accept_schema(self, raw: Any) -> None:
        """Take the hello's app schema, or refuse it: below the minimum, an error
        frame with the problem then 4426; one the server does not know, 4400."""
        try:
            self.schema = self.sync.accept_schema(raw)
        except ClientUpgradeRequired as problem:
            error = {"type": "error", "problem": problem.body("/sync/ws", None, self.locale)}
            await self.ws.send_str(orjson.dumps(error).decode())
            raise Refused(Close.UPGRADE_REQUIRED, str(problem.detail)) from None
        except Problem as problem:
            raise Refused(Close.PROTOCOL, str(problem.detail or problem.title)) from None

    async def _sign_in(self, token: str) -> None:
        """Authenticate `token` as this session's principal, or refuse (4401/4403)."""
        try:
            self.who, self.tenant_locale = await authenticate(self.request, token)
        except tokens.TokenError as exc:
            raise Refused(Close.TOKEN, str(exc)) from None
        except Problem as problem:
            code = Close.TOKEN if problem.status == 401 else Close.FORBIDDEN
            raise Refused(code, problem.detail or problem.title) from None

    # --- the three tasks and the reader ------------------------------------------------

    async def _reader(self) -> None:
        """Read frames until the socket closes; a failure closes it with 1011, logged."""
        try:
            while not self.ws.closed:
                message = await self._receive_json(wait_s=None)
                if message is None:
                    return
                if message is _UNUSABLE:  # already answered with one error frame
                    continue
                if message.get("type") == "push":
                    await self._push(message)
                elif message.get("type") == "ping":
                    await self._send({"type": "pong"})
                else:
                    await self._send(self._error("unknown_message", "expected push or ping"))
        except Exception:
            log.exception("live_socket_failed", client_id=self.client_id)
            self.request_close(Close.SERVER_ERROR, "server error; reconnect")

    async def _push(self, message: dict[str, Any]) -> None:
        assert self.who is not None
        body = {k: v for k, v in message.items() if k != "type"}
        body.setdefault("schema", self.schema)  # the hello's, unless the push names its own
        try:
            request = PushRequest.model_validate(body)
            async with self._push_slot():
                answer = await self.sync.push(
                    self.who, request, self.request.headers.get("User-Agent")
                )
            metrics.count_push(self.request.app, "ws", answer)
            answer = localized(answer, self.locale)
            await self._send({"type": "push_result", "batch_id": request.batch_id, **answer})
        except ValidationError as exc:
            await self._send(
                self._error(
                    "validation_failed",
                    "the push did not validate",
                    errors=field_errors(exc),
                    batch_id=body.get("batch_id"),
                )
            )
        except Problem as problem:
            await self._send(
                {
                    "type": "push_result",
                    "batch_id": body.get("batch_id"),
                    "problem": problem.body("/sync/ws", None, self.locale),
                }
            )

    @contextlib.asynccontextmanager
    async def _push_slot(self) -> AsyncIterator[None]:
        """What an HTTP push takes (fair_limits.py): a token of the tenant's request
        budget, then a push slot of the tenant and of the process."""
        assert self.who is not None
        limits = self.request.app.get(LIMITS)
        if limits is None:
            yield
            return
        await limits.spend(self.who.tenant_id)
        async with limits.pushing(self.who.tenant_id):
            yield

    def _error(
        self, code: str, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An `error` frame, its problem in the socket's language."""
        problem: dict[str, Any] = {"code": code, "detail": detail}
        if errors:
            problem["errors"] = errors
        return {"type": "error", "problem": problem_in(problem, self.locale), **extra}

    async def _send(self, message: dict[str, Any]) -> None:
        """Enqueue for the sender; replies wait for room rather than being dropped."""
        await self.queue.put(message)

    async def _sender(self) -> None:
        while True:
            message = await self.queue.get()
            if message is None or self.ws.closed:
                return
            if not isinstance(message, str):
                message = orjson.dumps(message).decode()
            await self.ws.send_str(message)

    async def _streamer(self) -> None:
        """Stream, and close the socket with 1011 if streaming fails (a socket
        that no longer streams must not stay open looking alive)."""
        try:
            await self._stream()
        except InvalidSyncCursor as exc:
            self.request_close(Close.PROTOCOL, f"invalid cursor: {exc.detail}"[:120])
        except Exception:
            log.exception("live_stream_failed", client_id=self.client_id)
            self.request_close(Close.SERVER_ERROR, "server error; reconnect")

    async def _stream(self) -> None:
        """Catch up from the cursor, then follow the tenant's feed (which lets the
        session go to read for itself when it falls behind or its scope moves)."""
        assert self.who is not None
        caught_up = False
        sessions = self.request.app[appkeys.LIVE]
        while not self.ws.closed:
            # Our own read also notes the device's cursor (sync health).
            page, self.scope = await self.sync.pull_in_scope(
                self.who, self.cursor, PAGE, self.client_id, self.schema
            )
            metrics.count_pull(self.request.app, page)
            if page["changes"] and not await self._put_page(page):
                return
            self.cursor = page["cursor"]
            if page["has_more"]:
                continue
            if not caught_up:
                caught_up = True
                if not await self._put_page({"type": "caught_up", "cursor": self.cursor}):
                    return
            self.released.clear()
            sessions.feed(self.who.tenant_id, self._start_feed).follow(self)
            await self.released.wait()

    def _start_feed(self) -> TenantFeed:
        """The tenant's shared feed, when this session is its first follower."""
        assert self.who is not None
        app = self.request.app
        return TenantFeed(
            self.sync,
            self.who.tenant_id,
            app[appkeys.HUB].subscribe,
            lambda page: metrics.count_pull(app, page),
        )

    async def _put_page(self, page: dict[str, Any]) -> bool:
        """Queue a page, waiting for room; False once the reader was too slow and is closed."""
        message: dict[str, Any] = page if "type" in page else {"type": "changes", **page}
        if not self.queue.full():  # the usual case: no timer, no extra task
            self.queue.put_nowait(message)
            return True
        try:
            async with asyncio.timeout(self.settings.ws_slow_client_s):
                await self.queue.put(message)
        except TimeoutError:
            self.request_close(Close.TOO_SLOW, "too slow; reconnect and catch up from your cursor")
            return False
        return True

    async def _receive_json(self, wait_s: float | None) -> dict[str, Any] | None:
        """The next frame as a JSON object (bounded by protocol.bounds; a push's
        changes are bounded one by one by the push); None once the socket closes;
        `_UNUSABLE` for a frame answered with one error frame."""
        message = await self.ws.receive(timeout=wait_s)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return None
        if message.type is not WSMsgType.TEXT:
            await self.close(Close.PROTOCOL, "send JSON text frames")
            return None
        try:
            data = bounds.decode(message.data, skip=("changes",))
        except bounds.NotJSON:
            await self._send(self._error("malformed_json", "the frame is not JSON"))
            return _UNUSABLE
        except bounds.BoundsError as exc:
            await self._send(
                self._error(
                    "validation_failed",
                    Msg(
                        "the frame is outside the server's limits: {reason}",
                        reason=bounds_message(exc),
                    ),
                    errors=[bounds_error(exc)],
                )
            )
            return _UNUSABLE
        if not isinstance(data, dict):
            await self._send(self._error("malformed_json", "the frame is not a JSON object"))
            return _UNUSABLE
        return data


_UNUSABLE: dict[str, Any] = {}  # the marker of a frame already answered with an error
