"""The HTTP server under the application: aiohttp's, with problems at the socket.

aiohttp answers some requests before any middleware runs: a request line or
header over 8,190 bytes, a NUL or other invalid byte in a header, a method or
version that is not HTTP. Its `RequestHandler.handle_error` writes those as
plain text; `ProblemRequestHandler` writes them as problem+json (code
`malformed_request`, status as aiohttp chose, aiohttp's sentence as the
detail, English: no header of such a request is trusted) and logs one line,
not a traceback.

It also cuts a request head that arrives too slowly: once a request's first
byte is in, its request line and headers must be complete within
`HEADER_TIMEOUT_S`, else a 408 `request_timeout` problem is written and the
connection closed. (A connection that sends nothing is closed after aiohttp's
keep-alive timeout.) Bodies have their own limit, `syncd.web.boundary`.

`serve` runs an application on this server (`syncd serve` / `syncd up`) as
`web.run_app` would: signals, graceful shutdown. What aiohttp still answers
itself is listed in docs/api.md, "Errors before the application".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from syncd.web.boundary import RequestTimeout
from syncd.web.middlewares import SECURITY_HEADERS
from syncd.web.problems import PROBLEM_CONTENT_TYPE, BadRequest, InternalError, Problem

log = structlog.get_logger("syncd.http")
KEEPALIVE_TIMEOUT_S = 75.0  # aiohttp's run_app default
LINGERING_TIME_S = 2.0  # unread body read (and dropped) after an answer, at most


class MalformedRequest(BadRequest):
    code = "malformed_request"
    title = "The request is not valid HTTP"


def problem_bytes(problem: Problem, status: int | None = None) -> tuple[int, bytes]:
    """(status, JSON) of `problem` for a request the application never saw."""
    status = status or problem.status
    body = problem.body("/", None) | {"status": status}
    return status, json.dumps(body, ensure_ascii=False).encode()


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, with problem answers and a head deadline."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._awaiting_head = True
        self._head_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count > parsed:
            self._awaiting_head = False
            self._cancel_deadline()
        elif self._awaiting_head and self._head_deadline is None and data:
            self._head_deadline = self._loop.call_later(self.header_timeout_s, self._head_too_slow)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    async def _handle_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._handle_request(*args, **kwargs)
        finally:
            self._awaiting_head = not self._messages

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        transport = self.transport
        if transport is None or not self._awaiting_head:
            return
        log.info("request head too slow", limit_s=self.header_timeout_s, peer=self.peername)
        problem = RequestTimeout(f"the request head took over {self.header_timeout_s} seconds")
        status, body = problem_bytes(problem)
        head = (
            f"HTTP/1.1 {status} Request Timeout\r\n"
            f"Content-Type: {PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        transport.write(head.encode() + body)
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        problem: Problem
        if status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
            problem = InternalError("the server failed; quote the request id")
        else:
            reason = (message or str(exc or "") or "malformed request").splitlines()[0][:300]
            log.info("malformed HTTP request refused", status=status, reason=reason)
            problem = MalformedRequest(reason)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; no problem can follow it")
        status, body = problem_bytes(problem, status)
        response = web.Response(
            status=status, body=body, content_type=PROBLEM_CONTENT_TYPE, charset="utf-8"
        )
        response.headers.update(SECURITY_HEADERS)
        response.force_close()
        return response


class ProblemServer(web.Server):
    """aiohttp's Server, making `ProblemRequestHandler`s."""

    def __init__(self, base: web.Server, header_timeout_s: float) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.header_timeout_s = header_timeout_s

    def __call__(self) -> RequestHandler:
        handler = ProblemRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout_s = self.header_timeout_s
        return handler


class ProblemRunner(web.AppRunner):
    """An AppRunner whose server is a `ProblemServer`."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT_S)
        kwargs.setdefault("lingering_time", LINGERING_TIME_S)
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        return ProblemServer(await super()._make_server(), self.header_timeout_s)


def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout_s: float,
    access_log_class: type[AbstractAccessLogger],
    shutdown_timeout: float,
    print: Callable[[str], None] | None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully (as web.run_app)."""

    async def run() -> None:
        runner = ProblemRunner(
            app,
            header_timeout_s=header_timeout_s,
            handle_signals=True,
            access_log_class=access_log_class,
            shutdown_timeout=shutdown_timeout,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            if print is not None:
                print(f"======== Running on http://{host}:{port} ========\n(Press CTRL+C to quit)")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(run())
