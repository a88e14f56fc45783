"""Problems as aiohttp answers: the problem+json response, and aiohttp's own HTTP exceptions
(router 404/405, body 413, ...) turned into problems of the one tree (`syncd.web.problems`)."""

from __future__ import annotations

import json
import re

from aiohttp import web

from syncd.i18n import DEFAULT_LOCALE, Msg
from syncd.web.keys import PROBLEM_CODE, REQUEST_ID
from syncd.web.problems import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)


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
