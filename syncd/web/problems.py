"""The one error tree, rendered as RFC 9457 problem details.

    Problem (status, code, title)
    ├── BadRequest 400            ├── PayloadTooLarge 413
    ├── Unauthorized 401          ├── UnsupportedMediaType 415
    ├── Forbidden 403             ├── ValidationFailed 422 / MalformedJSON 422
    ├── NotFound 404              ├── TooManyRequests 429
    ├── MethodNotAllowed 405      ├── InternalError 500
    ├── Conflict 409              └── ServiceUnavailable 503
    └── PreconditionFailed 412

Handlers and services raise these (or subclasses with a more precise `code`);
the problem middleware renders them (`syncd.web.responses`: this module is
plain Python, so a service may raise a problem without the web framework).
`code` is stable: clients branch on it. Each class says once what its code
answers: the HTTP status and the English title (`PROBLEM_CODES` lists every
code with its title, for the catalog's tests and for stored problems).

A change the write path refuses is a problem of this tree too
(`syncd.sync.refusals.Refused`, a branch across the statuses): the same
class is the request's problem when a REST write raises it, and
`as_json()` renders it into the change's `rejected` result of a push, in
English with its `Msg`s kept for later (`syncd.web.problem_json`).

Rendering speaks the locale the middleware chose for the request (`syncd.i18n`):
the title always; the detail when it is the title, a generic sentence of the
catalog, or a `Msg` (a template with named fields, translated as a template:
`NotFound(Msg("no task {task_id}", task_id=...))`). A detail given as a plain
string the catalog lacks stays English. `Content-Language` names the title's
language. A stored problem is worded by `syncd.sync.localize.problem_in`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from syncd.i18n import DEFAULT_LOCALE, Msg, translate
from syncd.web.problem_json import carry

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

    def as_json(self) -> dict[str, Any]:
        """The problem as a change's `rejected` result carries it and as it is stored:
        English, no `instance` (it answers a change, not a request), each `Msg`
        kept under `_text` so that it is worded in its reader's language later."""
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.title if self.detail is None else self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return carry(body)


PROBLEM_CODES[Problem.code] = Problem.title


def error_in(error: dict[str, Any], locale: str) -> dict[str, Any]:
    """An `errors[]` item with its message in `locale` (a `Msg`, or a catalog sentence)."""
    message = error.get("message")
    if isinstance(message, Msg):
        return {**error, "message": message.in_locale(locale)}
    if isinstance(message, str) and locale != DEFAULT_LOCALE:
        return {**error, "message": translate(message, locale)}
    return error


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
