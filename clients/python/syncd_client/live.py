"""One live connection to `/sync/ws`: hello with the stored cursor, then pages
in and pushes out, until the socket closes or the caller stops it.

Two tasks per socket: the reader (the only one that reads) applies `changes`
pages with their cursor in one store transaction, notes `caught_up`, and
hands `push_result` frames to the pusher; the pusher sends the outbox one
batch at a time and waits for its answer. A batch whose answer never came
stays in flight in the store and is sent again, under the same id, on the
next connection.

How the socket ended decides what the caller does (SyncClient.run_live):
4401 -> TokenRejected (refresh, reconnect); 4403 -> ProblemError (stop);
4400 or 1009 -> ProtocolViolation (stop); anything else -> TransientError
(reconnect with back-off from the last stored cursor). A `push_result` whose
problem is a 429 (the server's fair limits) or a 5xx is a TransientError too:
the batch stays in flight and is sent again after `retry_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from pydantic import ValidationError

from protocol import versions
from protocol.changes import ChangeResult, PulledChange
from syncd_client.errors import ProblemError, ProtocolViolation, TransientError
from syncd_client.store import LocalStore, PendingBatch
from syncd_client.transport import Transport

SUBPROTOCOL = "syncd.v1"
CLOSE_TOKEN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_PROTOCOL = 4400
CLOSE_TOO_BIG = 1009

Complete = Callable[[PendingBatch, list[ChangeResult], str], Awaitable[None]]


class TokenRejected(TransientError):
    """The server closed the socket with 4401: refresh the token and reconnect."""


class LiveConnection:
    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        store: LocalStore,
        *,
        outbox: asyncio.Event,
        caught_up: asyncio.Event,
        complete: Complete,
        batch_size: int,
        push_timeout_s: float,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        self.ws = ws
        self.store = store
        self.outbox = outbox
        self.caught_up = caught_up
        self.complete = complete
        self.batch_size = batch_size
        self.push_timeout_s = push_timeout_s
        self.on_page = on_page
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Serve the socket until it closes (raising why) or `stop` is set (returning)."""
        await self._send(
            {
                "type": "hello",
                "client_id": self.store.client_id,
                "cursor": self.store.cursor,
                "schema": versions.CURRENT,
            }
        )
        reader = asyncio.create_task(self._reader(), name="syncd-client-reader")
        pusher = asyncio.create_task(self._pusher(), name="syncd-client-pusher")
        stopper = asyncio.create_task(stop.wait(), name="syncd-client-stop")
        tasks: set[asyncio.Task[Any]] = {reader, pusher, stopper}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pusher, stopper):
                task.cancel()
            await self.ws.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(reader, 5)
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in (pusher, reader):
            error = task.exception() if task in done else None
            if error is not None:
                raise error
        if stopper not in done:
            raise self._closed_why()

    def _closed_why(self) -> Exception:
        code = self.ws.close_code
        if code == CLOSE_TOKEN:
            return TokenRejected("the server closed the socket: token expired or invalid")
        if code == CLOSE_FORBIDDEN:
            return ProblemError(403, {"code": "forbidden", "detail": "socket closed with 4403"})
        if code in (CLOSE_PROTOCOL, CLOSE_TOO_BIG):
            return ProtocolViolation(f"the server closed the socket with {code}")
        return TransientError(f"the socket closed ({code})")

    async def _send(self, frame: dict[str, Any]) -> None:
        try:
            await self.ws.send_json(frame)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise TransientError(f"sending on the socket: {exc!r}") from exc

    async def _reader(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.ERROR:
                raise TransientError(f"the socket failed: {message.data!r}")
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ProtocolViolation(f"unexpected {message.type.name} frame")
            try:
                frame = json.loads(message.data)
            except ValueError:
                raise ProtocolViolation("a frame that is not JSON") from None
            await self._frame(frame)

    async def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "changes":
            try:
                changes = [PulledChange.model_validate(c) for c in frame["changes"]]
            except (KeyError, ValidationError) as exc:
                raise ProtocolViolation(f"a changes frame that does not validate: {exc}") from None
            applied = self.store.apply_page(changes, str(frame["cursor"]))
            if self.on_page is not None:
                self.on_page(applied)
        elif kind == "caught_up":
            self.caught_up.set()
        elif kind in ("push_result", "error") and frame.get("batch_id") in self._answers:
            answer = self._answers.pop(str(frame["batch_id"]))
            if not answer.done():
                answer.set_result(frame)
        elif kind == "error":
            raise ProtocolViolation(f"the server could not use a frame: {frame.get('problem')}")

    async def _pusher(self) -> None:
        while True:
            batch = self.store.next_batch(self.batch_size)
            if batch is None:
                self.outbox.clear()
                batch = self.store.next_batch(self.batch_size)  # queued since the check?
                if batch is None:
                    await self.outbox.wait()
                    continue
            answer = asyncio.get_running_loop().create_future()
            self._answers[batch.batch_id] = answer
            await self._send({"type": "push", **batch.body(self.store.client_id)})
            try:
                frame = await asyncio.wait_for(answer, self.push_timeout_s)
            except TimeoutError:
                raise TransientError(f"no answer to batch {batch.batch_id}") from None
            await self.complete(batch, _results(frame), str(frame.get("cursor", "")))


def _results(frame: dict[str, Any]) -> list[ChangeResult]:
    if frame.get("type") == "error":
        raise ProtocolViolation(f"push refused: {frame.get('problem')}")
    problem = frame.get("problem")
    if problem is not None:
        status = int(problem.get("status") or 400)
        if status == 429 or status >= 500:  # the server's limits: the same batch, later
            wait = problem.get("retry_after")
            raise TransientError(
                f"push deferred: {problem.get('code')}",
                retry_after_s=float(wait) if isinstance(wait, int | float) else None,
            )
        raise ProblemError(status, problem)
    try:
        return [ChangeResult.model_validate(r) for r in frame["results"]]
    except (KeyError, TypeError, ValidationError) as exc:
        raise ProtocolViolation(f"a push_result that does not validate: {exc}") from None


async def connect(
    http: aiohttp.ClientSession,
    transport: Transport,
    token: str,
    *,
    heartbeat_s: float,
    timeout_s: float,
) -> aiohttp.ClientWebSocketResponse:
    """Open `/sync/ws` with the token offered as a subprotocol.

    A 401 is TokenRejected; a 429 or 5xx, a refused or timed-out connection
    is a TransientError; any other refusal a ProblemError."""
    try:
        return await asyncio.wait_for(
            http.ws_connect(
                transport.ws_url("/sync/ws"),
                protocols=(SUBPROTOCOL, f"bearer.{token}"),
                headers=transport.headers(),
                heartbeat=heartbeat_s,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            ),
            timeout_s,
        )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status == 401:
            raise TokenRejected("the upgrade was refused: 401") from exc
        if exc.status >= 500 or exc.status == 429:
            raise TransientError(f"the upgrade failed: {exc.status}") from exc
        problem = {"code": f"http_{exc.status}", "detail": exc.message}
        raise ProblemError(exc.status, problem) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(f"connecting the socket: {type(exc).__name__}: {exc}") from exc
