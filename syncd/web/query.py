"""Strict query strings: one reader for every handler's query parameters.

A query value is text; `read_query` reads it as its model's field says, more
strictly than pydantic's lax mode would (which takes `?until=0.5` for a Unix
time and `?active=1` for true):

- a date-time is RFC 3339 text (`2026-12-06T10:00:00Z`; a date alone, a
  number or anything else: `datetime_parsing`);
- a boolean is `true` or `false` (`bool_parsing`);
- an integer is decimal digits (`int_parsing`), within signed 64 bits and the
  field's own bounds (`out_of_range`).

Every violation is a 422 `validation_failed` naming the parameter. (U+0000 in
any query value was refused before routing, by `syncd.web.boundary`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from syncd.i18n import Msg
from syncd.web.body import scalar_kind, validate
from syncd.web.field_messages import TEMPLATES
from syncd.web.problems import ValidationFailed

M = TypeVar("M", bound=BaseModel)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)
INTEGER = re.compile(r"-?\d{1,20}", re.ASCII)


def read_query(request: web.Request, model: type[M], *, own: Iterable[str] = ()) -> M:
    """The query string as `model`, each value checked for its field's type first.
    `own` names parameters the caller reads by a rule of its own (left out here)."""
    values = {name: value for name, value in request.query.items() if name not in own}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key in values:
            _check_text(key, values[key], field)
    return validate(model, values)


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter from `low` to `high`, `default` when absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = parse_int(name, raw)
    if not low <= value <= high:
        raise _out_of_range(name, raw, low, high)
    return value


def query_datetime(request: web.Request, name: str) -> datetime | None:
    """A date-time parameter with its offset, or None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    _require(DATE_TIME.fullmatch(raw) is not None, name, raw, "datetime_parsing")
    value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValidationFailed(
            Msg("{name} needs a time zone (for example a trailing Z)", name=name),
            errors=[{"field": name, "code": "timezone", "message": Msg("must name its time zone")}],
        )
    return value


def parse_int(name: str, raw: str) -> int:
    """`raw` as a signed 64-bit integer, or a 422 problem naming `name`."""
    _require(INTEGER.fullmatch(raw) is not None, name, raw, "int_parsing")
    value = int(raw)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _out_of_range(name, raw, INT64_MIN, INT64_MAX)
    return value


def _check_text(name: str, raw: str, field: FieldInfo) -> None:
    kind = scalar_kind(field.annotation)
    if kind is bool:
        _require(raw in ("true", "false"), name, raw, "bool_parsing")
    elif kind is int:
        value = parse_int(name, raw)
        low, high = _bounds(field)
        if not low <= value <= high:
            raise _out_of_range(name, raw, low, high)
    elif kind is datetime:
        _require(DATE_TIME.fullmatch(raw) is not None, name, raw, "datetime_parsing")


def _bounds(field: FieldInfo) -> tuple[int, int]:
    low, high = INT64_MIN, INT64_MAX
    for rule in field.metadata:
        low = max(low, getattr(rule, "ge", None) or low)
        high = min(high, getattr(rule, "le", None) or high)
    return low, high


def _sentence(code: str, name: str) -> Msg:
    if code == "bool_parsing":
        return Msg("{name} must be true or false", name=name)
    if code == "int_parsing":
        return Msg("{name} must be an integer", name=name)
    return Msg("{name} must be an RFC 3339 date-time, such as 2026-12-06T10:00:00Z", name=name)


def _require(ok: bool, name: str, raw: str, code: str) -> None:
    if not ok:
        # The item's message in pydantic's words where it has them (as a body's
        # field errors), translated like every message.
        template = TEMPLATES.get(code)
        message = Msg(template) if isinstance(template, str) and "{" not in template else None
        raise ValidationFailed(
            _sentence(code, name),
            errors=[{"field": name, "code": code, "message": message or _sentence(code, name)}],
        )


def _out_of_range(name: str, raw: str, low: int, high: int) -> ValidationFailed:
    return ValidationFailed(
        Msg("{name} must be an integer from {low} to {high}", name=name, low=low, high=high),
        errors=[
            {
                "field": name,
                "code": "out_of_range",
                "message": Msg("must be from {low} to {high}", low=low, high=high),
            }
        ],
    )
