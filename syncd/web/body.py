"""Request bodies: JSON only, bounded (protocol.bounds), strict models (unknown
fields refused), clear 4xx."""

from __future__ import annotations

import functools
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from protocol import bounds
from syncd.i18n import Msg
from syncd.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS
from syncd.web.field_messages import bounds_message, field_message
from syncd.web.problems import MalformedJSON, Problem, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


# Passwords are taken byte for byte: never trimmed like other strings.
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=1024)]
# A password being set: the document states the policy (syncd.passwords), which the
# service enforces (422 password_policy), so the lengths are documentation here.
NewPassword = Annotated[
    Password,
    Field(
        json_schema_extra={"minLength": MIN_PASSWORD_CHARS, "maxLength": MAX_PASSWORD_BYTES},
        description=f"at least {MIN_PASSWORD_CHARS} characters and 4 different ones, "
        f"at most {MAX_PASSWORD_BYTES} bytes in UTF-8",
    ),
]


class Body(BaseModel):
    """Base of every request model: unknown fields are an error, not ignored, and
    values are of their JSON type (pydantic's lax mode would read `0` as a Unix
    time, `"5"` or `5.0` as an integer, `1` as true)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or info.field_name is None:
            return value
        kind = _kind_of(cls, info.field_name)
        if kind is datetime and not isinstance(value, str | datetime):
            raise ValueError("a date-time is an RFC 3339 string, such as 2026-12-06T10:00:00Z")
        if kind is bool and not isinstance(value, bool):
            raise ValueError("a boolean is true or false")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("an integer is a JSON number without a fraction or exponent")
        return value


@functools.cache
def _kind_of(model: type[BaseModel], name: str) -> type | None:
    field = model.model_fields.get(name)
    return None if field is None else scalar_kind(field.annotation)


def scalar_kind(annotation: Any) -> type | None:
    """bool, int or datetime when the annotation is one of them (maybe optional)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return scalar_kind(inner[0]) if len(inner) == 1 else None
    if annotation in (AwareDatetime, NaiveDatetime):
        return datetime
    for kind in (bool, int, datetime):
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return kind
    return None


async def parse_body(request: web.Request, model: type[M], *, each: Iterable[str] = ()) -> M:
    """The body as `model`. `each` names top-level arrays whose items the caller
    bounds one by one (a push's `changes`: one bad change never fails the rest)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            Msg(
                "send 'Content-Type: application/json', not {content_type}",
                content_type=repr(request.content_type),
            )
        )
    return validate(model, decode_json(await request.read(), each=each))


def decode_json(raw: bytes | str, *, each: Iterable[str] = ()) -> Any:
    """JSON from a client, within protocol.bounds' limits, or a 422 problem."""
    try:
        return bounds.decode(raw, skip=each)
    except bounds.NotJSON as exc:
        raise MalformedJSON(Msg("the body is not valid JSON: {reason}", reason=str(exc))) from None
    except bounds.BoundsError as exc:
        raise ValidationFailed(
            Msg("the body is outside the server's limits: {reason}", reason=bounds_message(exc)),
            errors=[bounds_error(exc)],
        ) from None


def bounds_error(exc: bounds.BoundsError) -> dict[str, Any]:
    """A field error (`errors[]` item) for a value outside the limits."""
    return {"field": exc.path or "(body)", "code": exc.code, "message": bounds_message(exc)}


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            Msg("{count} field(s) did not validate", count=exc.error_count()),
            errors=field_errors(exc),
        ) from None


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "(body)",
            "code": error["type"],
            "message": field_message(error["type"], error["msg"], error.get("ctx")),
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


def parse_uuid(value: str, name: str) -> uuid.UUID:
    """`value` as a UUID, or a 422 problem naming the parameter."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            Msg("{name} must be a UUID", name=name),
            errors=[{"field": name, "code": "uuid_parsing", "message": Msg("not a UUID")}],
        ) from None


def path_uuid(
    request: web.Request, name: str, missing: Callable[[str], Problem] | None = None
) -> uuid.UUID:
    """A UUID path parameter. Not a UUID: `missing(raw)` (a 404 for ids of rows:
    such an id names nothing) or, without it, a 422 problem."""
    raw = request.match_info[name]
    if missing is None:
        return parse_uuid(raw, name)
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise missing(raw) from None
