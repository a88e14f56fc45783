"""The one error tree of the HTTP layer, rendered as RFC 9457 problem details.

    Problem (status, code, title)
    ├── BadRequest 400            ├── PayloadTooLarge 413
    ├── Unauthorized 401          ├── UnsupportedMediaType 415
    ├── Forbidden 403             ├── ValidationFailed 422 / MalformedJSON 422
    ├── NotFound 404              ├── TooManyRequests 429
    ├── MethodNotAllowed 405      ├── InternalError 500
    ├── Conflict 409              └── ServiceUnavailable 503
    └── PreconditionFailed 412

Handlers and services raise these (or subclasses with a more precise `code`);
the problem middleware renders them. `code` is stable: clients branch on it,
and `PROBLEM_CODES` lists every one of them with its English title.

Rendering speaks the locale the middleware chose for the request (`syncd.i18n`):
the title always; the detail when it is the title, a generic sentence of the
catalog, or a `Msg` (a template with named fields, translated as a template:
`NotFound(Msg("no task {task_id}", task_id=...))`). A detail given as a plain
string the catalog lacks stays English. `Content-Language` names the title's
language.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from aiohttp import web

from syncd.i18n import DEFAULT_LOCALE, Msg, translate
from syncd.web.keys import PROBLEM_CODE, REQUEST_ID

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:syncd:problem:"

PROBLEM_CODES: dict[str, str] = {}


class Problem(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal server error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        PROBLEM_CODES.setdefault(cls.code, cls.title)

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}

    def body(
        self, instance: str, request_id: str | None, locale: str = DEFAULT_LOCALE
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": translate(self.title, locale),
            "status": self.status,
            "detail": self.detail.in_locale(locale)
            if isinstance(self.detail, Msg)
            else translate(self.detail or self.title, locale),
            "instance": instance,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = [error_in(error, locale) for error in self.errors]
        if request_id is not None:
            body["request_id"] = request_id
        body.update(self.extra)
        return body


PROBLEM_CODES[Problem.code] = Problem.title


def error_in(error: dict[str, Any], locale: str) -> dict[str, Any]:
    """An `errors[]` item with its message in `locale` (a `Msg`, or a catalog sentence)."""
    message = error.get("message")
    if isinstance(message, Msg):
        return {**error, "message": message.in_locale(locale)}
    if isinstance(message, str) and locale != DEFAULT_LOCALE:
        return {**error, "message": translate(message, locale)}
    return error


def problem_response(
    problem: Problem, request: web.Request, locale: str = DEFAULT_LOCALE
) -> web.Response:
    """The problem+json answer, in `locale` (see `syncd.i18n.choose_locale`)."""
    body = problem.body(request.path, request.get(REQUEST_ID), locale)
    request[PROBLEM_CODE] = problem.code
    response = web.Response(
        status=problem.status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM_CONTENT_TYPE,
        charset="utf-8",
        headers=problem.headers,
    )
    response.headers["Content-Language"] = locale
    response.headers.add("Vary", "Accept-Language")
    return response


class InternalError(Problem):
    status = 500
    code = "internal_error"
    title = "Internal server error"


class BadRequest(Problem):
    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(Problem):
    status = 401
    code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="syncd"'})
        super().__init__(detail, **kwargs)


class Forbidden(Problem):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(Problem):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(Problem):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(Problem):
    status = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(Problem):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class PayloadTooLarge(Problem):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class UnsupportedMediaType(Problem):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ValidationFailed(Problem):
    status = 422
    code = "validation_failed"
    title = "The request did not validate"


class MalformedJSON(Problem):
    status = 422
    code = "malformed_json"
    title = "The request body is not valid JSON"


class TooManyRequests(Problem):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(Problem):
    status = 503
    code = "not_ready"
    title = "Service not ready"


class TenantRequired(BadRequest):
    code = "tenant_required"
    title = "No tenant named"


class TenantNotFound(NotFound):
    code = "tenant_not_found"
    title = "Unknown tenant"


class TenantMismatch(Forbidden):
    code = "tenant_mismatch"
    title = "The request names another tenant than its token"


_BY_STATUS: dict[int, type[Problem]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


_BODY_LIMIT = re.compile(r"Maximum request body size (\d+) exceeded\.")


def from_http_exception(exc: web.HTTPException) -> Problem:
    """The problem for an aiohttp HTTP exception (router 404/405, body 413, ...)."""
    cls = _BY_STATUS.get(exc.status, InternalError if exc.status >= 500 else BadRequest)
    detail: str | None = None
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        detail = Msg(
            "{method} is not allowed here; allowed: {allowed}",
            method=exc.method,
            allowed=", ".join(allowed),
        )
        return cls(detail, headers={"Allow": ",".join(allowed)})
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        # aiohttp's sentence, with its limit taken out to be translated
        limit = _BODY_LIMIT.fullmatch(exc.text or "")
        detail = (
            Msg("Maximum request body size {limit} exceeded.", limit=limit[1])
            if limit
            else exc.text
        )
    return cls(detail)
