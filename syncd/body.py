"""Request bodies: JSON only, bounded (protocol.bounds), strict models (unknown
fields refused), clear 4xx."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from protocol import bounds
from syncd.field_messages import field_message
from syncd.i18n import Msg
from syncd.problems import MalformedJSON, Problem, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


# Passwords are taken byte for byte: never trimmed like other strings.
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=1024)]


class Body(BaseModel):
    """Base of every request model: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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
            Msg("the body is outside the server's limits: {reason}", reason=exc.message),
            errors=[bounds_error(exc)],
        ) from None


def bounds_error(exc: bounds.BoundsError) -> dict[str, Any]:
    """A field error (`errors[]` item) for a value outside the limits."""
    return {"field": exc.path or "(body)", "code": exc.code, "message": exc.message}


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
