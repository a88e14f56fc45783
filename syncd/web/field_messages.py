"""The `message` of an `errors[]` item, translatable: pydantic's English, Arabic from the catalog.

pydantic words each field error from a template per error type (`missing`:
"Field required"; `string_too_short`: "String should have at least
{min_length} character{expected_plural}"). TEMPLATES repeats the templates of
the types syncd's bodies and queries can produce; `field_message` turns an
error into a `Msg` of that template with the error's context, so its English
is pydantic's own text and `Problem.body` answers it in the request's
language (the Arabic msgstr may leave out `{expected_plural}`). A type not
listed here, or a context that does not fill the template, keeps pydantic's
English text.

`bounds_message` does the same for protocol/bounds.py's messages (a value
outside the JSON limits): protocol/ words them in English and knows no
catalog, so BOUNDS repeats its templates by code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.bounds import BoundsError
from syncd.i18n import Msg

TEMPLATES: dict[str, str | tuple[str, ...]] = {
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "model_type": "Input should be a valid dictionary or instance of {class_name}",
    "model_attributes_type": "Input should be a valid dictionary or object to extract fields from",
    "greater_than": "Input should be greater than {gt}",
    "greater_than_equal": "Input should be greater than or equal to {ge}",
    "less_than": "Input should be less than {lt}",
    "less_than_equal": "Input should be less than or equal to {le}",
    "finite_number": "Input should be a finite number",
    "too_short": "{field_type} should have at least {min_length} item{expected_plural} after validation, not {actual_length}",  # noqa: E501 (one literal: the catalog test finds it)
    "too_long": "{field_type} should have at most {max_length} item{expected_plural} after validation, not {actual_length}",  # noqa: E501
    "string_type": "Input should be a valid string",
    "string_too_short": "String should have at least {min_length} character{expected_plural}",
    "string_too_long": "String should have at most {max_length} character{expected_plural}",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "enum": "Input should be {expected}",
    "literal_error": "Input should be {expected}",
    "dict_type": "Input should be a valid dictionary",
    "list_type": "Input should be a valid list",
    "bool_type": "Input should be a valid boolean",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "float_type": "Input should be a valid number",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "value_error": ("Value error, {error}", "value is not a valid email address: {reason}"),
    "date_type": "Input should be a valid date",
    "date_parsing": "Input should be a valid date in the format YYYY-MM-DD, {error}",
    "datetime_type": "Input should be a valid datetime",
    "datetime_parsing": "Input should be a valid datetime, {error}",
    "datetime_from_date_parsing": "Input should be a valid datetime or date, {error}",
    "timezone_aware": "Input should have timezone info",
    "uuid_type": "UUID input should be a string, bytes or UUID object",
    "uuid_parsing": "Input should be a valid UUID, {error}",
}


BOUNDS: dict[str, str | tuple[str, ...]] = {
    "too_deep": "nested deeper than {count} levels",
    "integer_out_of_range": "an integer beyond 64 bits",
    "number_out_of_range": "a number of 2**63 or more",
    "too_many_keys": "more than {count} keys",
    "key_too_long": "a key longer than {count}",
    "nul_character": ("a key holds U+0000", "a string holds U+0000"),
    "too_many_items": "more than {count} items",
    "string_too_long": "a string longer than {count}",
}


def bounds_message(exc: BoundsError) -> str:
    """The message of a value outside the JSON limits, as a translatable `Msg`."""
    known = BOUNDS.get(exc.code, ())
    count = "".join(char for char in exc.message if char.isdigit())
    for template in (known,) if isinstance(known, str) else known:
        made = Msg(template, count=count) if "{count}" in template else Msg(template)
        if made == exc.message:
            return made
    return exc.message


def field_message(error_type: str, message: str, context: Mapping[str, Any] | None) -> str:
    """`message` as a translatable `Msg` when its template is known, else as it is."""
    known = TEMPLATES.get(error_type, ())
    params = {name: str(value) for name, value in (context or {}).items()}
    count = (context or {}).get("min_length", (context or {}).get("max_length"))
    params.setdefault("expected_plural", "" if count == 1 else "s")  # as pydantic words it
    for template in (known,) if isinstance(known, str) else known:
        try:
            made = Msg(template, **params)
        except (KeyError, IndexError, ValueError):
            continue
        if made == message:
            return made
    return message
