"""HTTP middlewares, outermost first: request context, problems, body limit.

- `request_context`: request id in and out, log context, security headers,
  CORS (preflight answered here, before routing), gzip for large JSON.
- `problems`: every error leaves as application/problem+json, in the
  request's language (`problem_locale`); tracebacks go to the log, never into
  a body.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiohttp import web
from zlib_ng import zlib_ng

from syncd import appkeys
from syncd.i18n import Msg, choose_locale
from syncd.settings import Environment, Settings
from syncd.web import keys
from syncd.web.keys import PRINCIPAL
from syncd.web.problems import InternalError, PayloadTooLarge, Problem
from syncd.web.responses import from_http_exception, problem_response
from syncd.web.tenant import RESOLVED_TENANT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
_OWN_BODY_LIMIT = "__syncd_own_body_limit__"
log = structlog.get_logger("syncd.http")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = (
    2  # zlib-ng: as small as zlib at 6 (a pull page: 408 against 412 KB) in a quarter of its time
)
GZIP_INLINE_BYTES = 64 * 1024  # larger bodies are compressed in a worker thread

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# Outside SYNCD_ENV=dev, browsers are told to use HTTPS only for a year (RFC 6797);
# in dev, plain http://localhost must keep working.
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(settings: Settings) -> dict[str, str]:
    """SECURITY_HEADERS, with `Strict-Transport-Security` outside dev."""
    if settings.env is Environment.DEV:
        return SECURITY_HEADERS
    return {**SECURITY_HEADERS, "Strict-Transport-Security": HSTS}


CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-Match, X-Request-ID, X-Tenant"
CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def _request_id(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    allowed = request.app[appkeys.SETTINGS].cors_origin_list
    if origin is None or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id(request)
    request[keys.REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    origin = _allowed_origin(request)
    if (
        request.method == "OPTIONS"
        and origin is not None
        and "Access-Control-Request-Method" in request.headers
    ):
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if response.prepared:  # a WebSocket or stream already sent its headers
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    for name, value in security_headers(request.app[appkeys.SETTINGS]).items():
        response.headers.setdefault(name, value)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "ETag, Retry-After, X-Request-ID"
        response.headers.add("Vary", "Origin")
    if (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and len(response.body) >= GZIP_MIN_BYTES
        and "gzip" in request.headers.get("Accept-Encoding", "")
        and "Content-Encoding" not in response.headers
    ):
        await _gzip(response, response.body)
    return response


async def _gzip(response: web.Response, body: bytes) -> None:
    """Compress the body with zlib-ng at a fast level, off the event loop when large.

    (aiohttp's own `enable_compression` uses zlib at level 6, no level to choose:
    18 ms for a pull page of 5,000 changes, 2.7 MB; zlib-ng at level 2, 5 ms.)
    """
    if len(body) > GZIP_INLINE_BYTES:
        packed = await asyncio.get_running_loop().run_in_executor(None, _deflate, body)
    else:
        packed = _deflate(body)
    response.body = packed
    response.headers["Content-Encoding"] = "gzip"
    response.headers.add("Vary", "Accept-Encoding")


def _deflate(body: bytes) -> bytes:
    gzip_framing = 16 + zlib_ng.MAX_WBITS
    compressor = zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, gzip_framing)
    return compressor.compress(body) + compressor.flush()


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        _check_declared_length(request)
        return await handler(request)
    except Problem as problem:
        return problem_response(problem, request, problem_locale(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(from_http_exception(exc), request, problem_locale(request))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception(
            "unhandled error",
            method=request.method,
            path=request.path,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return problem_response(
            InternalError("the server failed; quote the request id"),
            request,
            problem_locale(request),
        )


def problem_locale(request: web.Request) -> str:
    """Accept-Language, then the user's locale, then the tenant's (when known), else English."""
    principal = request.get(PRINCIPAL)
    user_locale = principal.locale if principal is not None else None
    tenant = request.get(RESOLVED_TENANT)
    return choose_locale(
        request.headers.get("Accept-Language"),
        user_locale,
        tenant.locale if tenant is not None else None,
    )


def own_body_limit(handler: H) -> H:
    """Mark a handler that streams its body and enforces its own size limit
    (exempt from MAX_BODY_BYTES)."""
    setattr(handler, _OWN_BODY_LIMIT, True)
    return handler


def owns_body_limit(request: web.Request) -> bool:
    """Whether the request's handler streams its body (see `own_body_limit`)."""
    return bool(getattr(request.match_info.handler, _OWN_BODY_LIMIT, False))


def _check_declared_length(request: web.Request) -> None:
    if owns_body_limit(request):
        return
    limit = request.app[appkeys.SETTINGS].max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(
            Msg(
                "the body is {length} bytes; the limit is {limit} bytes", length=length, limit=limit
            )
        )
