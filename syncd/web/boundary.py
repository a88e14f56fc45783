"""The HTTP boundary: what every request must satisfy before a handler runs.

One middleware (after routing, before authentication):

- **U+0000 nowhere**: not in the path, a query value or a header (PostgreSQL
  text cannot hold it): a 422 `validation_failed` naming where. (aiohttp's
  parser already refuses a raw NUL byte in the request line or a header; that
  400 is rendered as a problem by `syncd.server`.)
- **The most specific path decides the method**: `GET /users/invite` is a
  405 with `Allow: POST` (the path exists, for POST), not a lookup of the user
  named "invite" through `/users/{user_id}`.
- **Bodies arrive in time**: a bounded body (every route but the streaming
  uploads) is read whole within `BODY_TIMEOUT_S`, else a 408
  `request_timeout` and the connection is closed.
- **A client that hangs up mid-body** is one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_urldispatcher import PlainResource

from syncd import appkeys
from syncd.i18n import Msg
from syncd.web.middlewares import owns_body_limit
from syncd.web.problems import BadRequest, Problem, ValidationFailed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("syncd.http")
_PLAIN_METHODS = web.AppKey("plain_methods", dict[str, frozenset[str]])


class RequestTimeout(Problem):
    status = 408
    code = "request_timeout"
    title = "The request did not arrive in time"


class ClientGone(BadRequest):
    """Never delivered: the client closed the connection before its body ended."""

    code = "client_closed"
    title = "The client closed the connection"


@web.middleware
async def boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    _refuse_nul(request)
    _refuse_shadowed_method(request)
    if request.body_exists and not owns_body_limit(request):
        await _read_body(request)
    return await handler(request)


def _refuse_nul(request: web.Request) -> None:
    where: str | None = None
    if "\x00" in request.path:
        where = "path"
    for name, value in request.query.items():
        if "\x00" in name or "\x00" in value:
            where = f"query.{name.replace(chr(0), '')}"
    for name, value in request.headers.items():
        if "\x00" in value:
            where = f"header.{name}"
    if where is not None:
        raise ValidationFailed(
            Msg("U+0000 (NUL) is not allowed in {where}", where=where),
            errors=[{"field": where, "code": "nul_character", "message": "U+0000 (NUL)"}],
        )


def _refuse_shadowed_method(request: web.Request) -> None:
    match = request.match_info
    if isinstance(match.http_exception, web.HTTPNotFound):
        return
    if match.http_exception is None and isinstance(match.route.resource, PlainResource):
        return
    allowed = _plain_methods(request.app).get(request.path)
    if allowed is not None and request.method not in allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)


def _plain_methods(app: web.Application) -> dict[str, frozenset[str]]:
    return app.get(_PLAIN_METHODS, {})


async def index_plain_paths(app: web.Application) -> None:
    """On start-up: the methods of each plain (parameterless) path of the route table."""
    found: dict[str, set[str]] = {}
    for resource in app.router.resources():
        if isinstance(resource, PlainResource):
            methods = found.setdefault(resource.canonical, set())
            methods.update(route.method for route in resource if route.method != "*")
    app[_PLAIN_METHODS] = {path: frozenset(m) for path, m in found.items()}


async def _read_body(request: web.Request) -> None:
    limit = request.app[appkeys.SETTINGS].body_timeout_s
    try:
        async with asyncio.timeout(limit):
            await request.read()
    except TimeoutError:
        log.info("request body too slow", path=request.path, limit_s=limit)
        raise RequestTimeout(
            Msg("the body did not arrive within {limit} seconds", limit=limit),
            headers={"Connection": "close"},
        ) from None
    except ConnectionResetError:
        log.info("client hung up during the body", method=request.method, path=request.path)
        raise ClientGone() from None
    except HttpProcessingError as exc:  # a chunked body that breaks its own framing
        raise BadRequest(Msg("the body is malformed: {reason}", reason=exc.message)) from None


async def paced(request: web.Request, chunk_bytes: int) -> AsyncIterator[bytes]:
    """A streamed body's chunks, each within `BODY_TIMEOUT_S` of the one before
    (a long upload may take its time; a stalled one is a 408)."""
    limit = request.app[appkeys.SETTINGS].body_timeout_s
    while True:
        try:
            async with asyncio.timeout(limit):
                chunk = await request.content.read(chunk_bytes)
        except TimeoutError:
            log.info("upload stalled", path=request.path, limit_s=limit)
            raise RequestTimeout(
                Msg("no part of the body arrived for {limit} seconds", limit=limit),
                headers={"Connection": "close"},
            ) from None
        if not chunk:
            return
        yield chunk
