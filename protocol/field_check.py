"""A typed check of a change's fields for the common values, without pydantic.

`check(model, values)` answers what `model.model_validate(values).model_dump(
mode="json", include=set(values))` answers, when every value is one it is
sure of: text within its lengths (trimmed as the model trims it), one of a
`Literal`'s choices, a strict number, integer or flag within its bounds, a
UUID in its canonical text, a nested model of those (with its defaults filled
in, as the dump does). Anything else (a datetime, an unknown field, a value
the model might refuse or rewrite) answers None, and the caller asks the
model, so a refused value always gets pydantic's own errors. Fields a model
validator reads together (`reads_together`) always take the model.

The checkers are built once per model from its fields' annotations and
constraints; a model with a validator this module does not know of is never
checked here. tests/unit/test_field_check.py holds both to the same results.
"""

from __future__ import annotations

import math
import types
import typing
import uuid
from collections.abc import Callable
from math import isfinite
from typing import Any, cast

import annotated_types
from pydantic import BaseModel, Strict
from pydantic_core import PydanticUndefined


class _Declined(Exception):
    """The value is not one this module is sure of: ask the model."""


Checker = Callable[[Any], Any]
_DECLINED = _Declined()
# Per model: ((field, checker of its non-null values, whether null is valid) in
# declaration order, fields left to the model) or None when the model is not
# checked here at all.
Compiled = tuple[tuple[tuple[str, Checker, bool], ...], frozenset[str]]
_compiled: dict[type[BaseModel], Compiled | None] = {}
_together: dict[type[BaseModel], frozenset[str]] = {}
# What pydantic-core trims under `str_strip_whitespace` (Rust's `str::trim`: the
# Unicode White_Space characters; Python's `str.strip()` also takes U+001C-U+001F).
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
# Field validators known to leave every value this module accepts as it is.
_PASSING_VALIDATORS = frozenset({"_in_utc"})


def reads_together(model: type[BaseModel], names: set[str]) -> None:
    """`model`'s own validator reads `names`: a change naming one takes the model."""
    _together[model] = frozenset(names)
    _compiled.pop(model, None)


def check(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON-ready values, or None: `model` decides (see the module's docstring)."""
    if model in _compiled:
        compiled = _compiled[model]
    else:
        compiled = _compiled[model] = _compile(model)
    if compiled is None:
        return None
    checkers, left = compiled
    if not left.isdisjoint(values):
        return None
    clean: dict[str, Any] = {}
    try:
        for name, checker, nullable in checkers:
            if name in values:
                value = values[name]
                clean[name] = None if value is None and nullable else checker(value)
    except _Declined:
        return None
    return clean if len(clean) == len(values) else None  # an unknown field: the model


def _known_decorators(model: type[BaseModel], *, model_validators: bool) -> bool:
    """Whether `model`'s validators and serializers are all ones this module knows."""
    found = model.__pydantic_decorators__
    return (
        set(found.field_validators) <= _PASSING_VALIDATORS
        and (model_validators or not found.model_validators)
        and not (
            found.validators
            or found.root_validators
            or found.field_serializers
            or found.model_serializers
            or found.computed_fields
        )
    )


def _compile(model: type[BaseModel]) -> Compiled | None:
    if not _known_decorators(model, model_validators=model in _together):
        return None
    checkers = []
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias is not None:
            return None
        found = _field_checker(info.annotation, list(info.metadata), _strips(model))
        if found is not None:
            checkers.append((name, *found))
    checked = {name for name, _, _ in checkers}
    left = _together.get(model, frozenset()) | (model.model_fields.keys() - checked)
    return tuple(checkers), frozenset(left)


def _strips(model: type[BaseModel]) -> bool:
    return bool(model.model_config.get("str_strip_whitespace"))


def _checker(annotation: Any, metadata: list[Any], strip: bool) -> Checker | None:
    """A checker of one field's values, or None: the field is always the model's."""
    found = _field_checker(annotation, metadata, strip)
    if found is None:
        return None
    base, nullable = found
    if not nullable:
        return base
    return lambda value: None if value is None else base(value)


def _field_checker(
    annotation: Any, metadata: list[Any], strip: bool
) -> tuple[Checker, bool] | None:
    """(a checker of the field's non-null values, whether null is one), or None."""
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        nullable, annotation = True, args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata = [*metadata, *extra]
    base = _base_checker(annotation, metadata, strip)
    return None if base is None else (base, nullable)


def _base_checker(annotation: Any, metadata: list[Any], strip: bool) -> Checker | None:
    bounds = _bounds(metadata)
    if bounds is None:
        return None
    strict, low, high, shortest, longest = bounds
    if annotation is str and not strict and low is None and high is None:
        return _text(shortest, longest, strip)
    if shortest is not None or longest is not None:
        return None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        if strict or low or high or not all(type(c) is str for c in choices):
            return None
        return _choice(frozenset(choices))
    if annotation is float and strict:
        return _number(float, low, high)
    if annotation is int and strict:
        return _number(int, low, high)
    if annotation is bool and strict and low is None and high is None:
        return _flag
    if annotation is uuid.UUID and not strict and low is None and high is None:
        return _uuid
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and not metadata:
        return _nested(annotation)
    return None


def _bounds(
    metadata: list[Any],
) -> tuple[bool, Any, Any, int | None, int | None] | None:
    """(strict, low, high, min length, max length) from the field's constraints,
    with `low`/`high` as (bound, inclusive); None for a constraint not known here."""
    strict, shortest, longest = False, None, None
    low: tuple[Any, bool] | None = None
    high: tuple[Any, bool] | None = None
    for item in metadata:
        if isinstance(item, Strict):
            strict = item.strict
        elif isinstance(item, annotated_types.Ge):
            low = (item.ge, True)
        elif isinstance(item, annotated_types.Gt):
            low = (item.gt, False)
        elif isinstance(item, annotated_types.Le):
            high = (item.le, True)
        elif isinstance(item, annotated_types.Lt):
            high = (item.lt, False)
        elif isinstance(item, annotated_types.MinLen):
            shortest = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            longest = item.max_length
        else:
            return None
    return strict, low, high, shortest, longest


def _text(shortest: int | None, longest: int | None, strip: bool) -> Checker:
    low = shortest or 0
    high = math.inf if longest is None else longest

    def text(value: Any) -> Any:
        if type(value) is not str:
            raise _DECLINED
        if strip:  # trimmed first, then measured, as the model does
            value = value.strip(WHITE_SPACE)
        if not low <= len(value) <= high:
            raise _DECLINED
        return value

    return text


def _choice(choices: frozenset[str]) -> Checker:
    def choice(value: Any) -> str:
        if type(value) is not str or value not in choices:
            raise _DECLINED
        return value

    return choice


def _number(kind: type, low: Any, high: Any) -> Checker:
    floating = kind is float

    def number(value: Any) -> Any:
        if type(value) is not kind or (floating and not isfinite(cast(float, value))):
            raise _DECLINED
        if low is not None and not (value >= low[0] if low[1] else value > low[0]):
            raise _DECLINED
        if high is not None and not (value <= high[0] if high[1] else value < high[0]):
            raise _DECLINED
        return value

    return number


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise _DECLINED
    return value


def _uuid(value: Any) -> str:
    if type(value) is not str or len(value) != 36:
        raise _DECLINED
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        raise _DECLINED from None
    if canonical != value:
        raise _DECLINED
    return value


def _nested(model: type[BaseModel]) -> Checker | None:
    """A nested model's value, dumped whole: every field, its default when left out."""
    if model.model_config.get("extra") != "forbid" or not _known_decorators(
        model, model_validators=False
    ):
        return None
    fields: list[tuple[str, Checker, bool, Any]] = []
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.default_factory is not None:
            return None
        found = _field_checker(info.annotation, list(info.metadata), _strips(model))
        if found is None or info.default is PydanticUndefined:
            return None  # a required field: left to the model
        checker, nullable = found
        try:
            default = None if info.default is None else checker(info.default)
        except _Declined:
            return None
        fields.append((name, checker, nullable, default))
    names = frozenset(name for name, _, _, _ in fields)

    def nested(value: Any) -> dict[str, Any]:
        if type(value) is not dict or not value.keys() <= names:
            raise _DECLINED
        clean = {}
        for name, checker, nullable, default in fields:
            if name not in value:
                clean[name] = default
            else:
                item = value[name]
                clean[name] = None if item is None and nullable else checker(item)
        return clean

    return nested
