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
the process PROCESS_MAX_LIVE_SOCKETS (syncd/fair_limits.py: reconnect later,
with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
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
from syncd.auth.principal import Principal
from syncd.i18n import Msg, choose_locale
from syncd.sockets.close import (
    CLOSE_FORBIDDEN,
    CLOSE_HELLO_TIMEOUT,
    CLOSE_PROTOCOL,
    CLOSE_SERVER_ERROR,
    CLOSE_TOKEN,
    CLOSE_TOO_SLOW,
    CLOSE_UPGRADE_REQUIRED,
)
from syncd.sync.client_schema import ClientUpgradeRequired
from syncd.sync.cursor import Cursor, version_of
from syncd.sync.errors import InvalidSyncCursor
from syncd.sync.live_auth import authenticate, socket_locale
from syncd.sync.live_feed import PAGE
from syncd.sync.localize import localized, problem_in
from syncd.sync.scope import Scope
from syncd.sync.service import SyncService
from syncd.web.body import bounds_error, field_errors
from syncd.web.field_messages import bounds_message
from syncd.web.problems import Problem

log = structlog.get_logger("syncd.live")


class LiveSession:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request = request
        self.ws = ws
        app = request.app
        self.settings = app[appkeys.SETTINGS]
        self.sync: SyncService = app[appkeys.SYNC]
        self.queue: asyncio.Queue[dict[str, Any] | str | None] = asyncio.Queue(
            maxsize=self.settings.ws_send_queue
        )
        self.who: Principal | None = None
        self.scope: Scope | None = None  # as of the session's last own read
        self.client_id: str | None = None
        self.schema = versions.CURRENT  # the hello's app schema, once accepted
        # The socket's language: the upgrade's Accept-Language until the hello (`_speak`).
        self.locale = choose_locale(request.headers.get("Accept-Language"))
        self.tenant_locale: str | None = None
        self.cursor: str | None = None
        self.closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._close_request: tuple[int, str] | None = None
        self._close_requested = asyncio.Event()
        self.finished = asyncio.Event()
        self.released = asyncio.Event()  # set when the tenant feed lets this session go
        self.superseded = False
        self.opened = time.monotonic_ns()  # the per-user cap closes the oldest first

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

    def request_close(self, code: int, message: str) -> None:
        """Ask the handler task to close the socket (only it touches the socket's reads)."""
        if self._close_request is None:
            self._close_request = (code, message)
        self._close_requested.set()

    async def close(self, code: int, message: str) -> None:
        if self.closing:
            return
        self.closing = True
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), 5)
        except TimeoutError:  # the peer reads nothing, not even a close frame
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    # --- lifecycle ------------------------------------------------------------------

    async def run(self, token: str | None) -> None:
        try:
            hello = await self._hello(token)
            if hello is None:
                return
            await self._serve()
        finally:
            try:
                await self._stop_tasks()
            finally:  # even when aiohttp cancels us as the peer hangs up
                self.finished.set()

    async def _stop_tasks(self) -> None:
        """Stop the helpers, close if asked, and let the reader see the close.

        The reader is never cancelled inside `receive()`: aiohttp treats that as
        an abnormal closure (1006) and drops the connection before our close
        frame is out. `close()` wakes the reader instead.
        """
        reader, others = self._tasks[:1], self._tasks[1:]
        for task in others:
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._close_request is not None:
            await self.close(*self._close_request)
        for task in reader:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)

    async def _hello(self, token: str | None) -> dict[str, Any] | None:
        """Authenticate (subprotocol, query or an `auth` message) and read `hello`.

        A token offered with the upgrade is checked at once: a bad one closes
        with 4401 without waiting for a hello."""
        if token and not await self._sign_in(token):
            return None
        deadline = self.settings.ws_hello_timeout_s
        try:
            message = await self._receive_json(wait_s=deadline)
            if message is None:
                return None
            if message.get("type") == "auth":
                token, self.who = str(message.get("token") or ""), None
                message = await self._receive_json(wait_s=deadline)
                if message is None:
                    return None
        except TimeoutError:
            await self.close(CLOSE_HELLO_TIMEOUT, "no hello in time")
            return None
        if message.get("type") != "hello":
            await self.close(CLOSE_PROTOCOL, "the first message must be hello (or auth)")
            return None
        if not token:
            await self.close(CLOSE_TOKEN, "no token")
            return None
        if self.who is None and not await self._sign_in(token):
            return None
        self._speak(message.get("locale"))
        if not await self._accept_schema(message.get("schema")):
            return None
        client_id = message.get("client_id")
        self.client_id = str(client_id) if client_id else None
        cursor = message.get("cursor")
        self.cursor = str(cursor) if cursor not in (None, "", 0, "0") else None
        try:
            Cursor.decode(self.cursor)
        except InvalidSyncCursor as exc:
            await self.close(CLOSE_PROTOCOL, f"invalid cursor: {exc.detail}"[:120])
            return None
        return message

    def _speak(self, hello_locale: Any) -> None:
        assert self.who is not None
        self.locale = socket_locale(self.request, self.who, self.tenant_locale, hello_locale)

    async def _accept_schema(self, raw: Any) -> bool:
        """Take the hello's app schema, or refuse it: below the minimum, an error
        frame with the problem then 4426; one the server does not know, 4400."""
        try:
            self.schema = self.sync.accept_schema(raw)
            return True
        except ClientUpgradeRequired as problem:
            error = {"type": "error", "problem": problem.body("/sync/ws", None, self.locale)}
            await self.ws.send_str(orjson.dumps(error).decode())
            await self.close(CLOSE_UPGRADE_REQUIRED, str(problem.detail)[:120])
        except Problem as problem:
            await self.close(CLOSE_PROTOCOL, str(problem.detail or problem.title)[:120])
        return False

    async def _sign_in(self, token: str) -> bool:
        """Authenticate `token` as this session's principal, or close (4401/4403)."""
        try:
            self.who, self.tenant_locale = await authenticate(self.request, token)
        except tokens.TokenError as exc:
            await self.close(CLOSE_TOKEN, str(exc)[:120])
            return False
        except Problem as problem:
            code = CLOSE_TOKEN if problem.status == 401 else CLOSE_FORBIDDEN
            await self.close(code, (problem.detail or problem.title)[:120])
            return False
        return True

    async def _serve(self) -> None:
        assert self.who is not None
        sessions = self.request.app[appkeys.LIVE]
        limits = self.request.app.get(appkeys.LIMITS)
        refused = limits.open_socket(self.who.tenant_id) if limits is not None else None
        if refused is not None:
            await self.close(CLOSE_TOO_SLOW, refused)
            return
        sessions.add(self, self.settings.ws_max_sockets_per_user)
        try:
            reader = asyncio.create_task(self._reader(), name="ws-reader")
            self._tasks = [
                reader,
                asyncio.create_task(self._sender(), name="ws-sender"),
                asyncio.create_task(self._streamer(), name="ws-streamer"),
                asyncio.create_task(self._expiry(), name="ws-expiry"),
            ]
            waiter = asyncio.create_task(self._close_requested.wait())
            try:
                await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        finally:
            sessions.discard(self)
            if limits is not None:
                limits.close_socket(self.who.tenant_id)

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
            self.request_close(CLOSE_SERVER_ERROR, "server error; reconnect")

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
        limits = self.request.app.get(appkeys.LIMITS)
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
            self.request_close(CLOSE_PROTOCOL, f"invalid cursor: {exc.detail}"[:120])
        except Exception:
            log.exception("live_stream_failed", client_id=self.client_id)
            self.request_close(CLOSE_SERVER_ERROR, "server error; reconnect")

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
            sessions.feed(self).follow(self)
            await self.released.wait()

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
            self.request_close(CLOSE_TOO_SLOW, "too slow; reconnect and catch up from your cursor")
            return False
        return True

    async def _expiry(self) -> None:
        assert self.who is not None
        remaining = self.who.token_expires_at - time.time()
        await asyncio.sleep(max(0.0, remaining))
        self.request_close(CLOSE_TOKEN, "token expired; refresh and reconnect")

    async def _receive_json(self, wait_s: float | None) -> dict[str, Any] | None:
        """The next frame as a JSON object (bounded by protocol.bounds; a push's
        changes are bounded one by one by the push); None once the socket closes;
        `_UNUSABLE` for a frame answered with one error frame."""
        message = await self.ws.receive(timeout=wait_s)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return None
        if message.type is not WSMsgType.TEXT:
            await self.close(CLOSE_PROTOCOL, "send JSON text frames")
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
