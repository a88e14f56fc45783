"""The one bounded decoder for JSON a device sends (HTTP bodies and WebSocket frames).

`decode` parses with orjson (which refuses NaN, Infinity, invalid UTF-8 and
nesting past 1,024) and then `check` walks the value against `Limits` (a
value within them in one quick pass, recursing at most `max_depth` deep; one
outside them again, without recursion, to name the first place that fails):

- nesting at most `max_depth` (the top value is depth 1), far below any
  library's recursion limit (orjson encodes at most 254 levels);
- integers within signed 64 bits (what PostgreSQL, SQLite and JavaScript's
  BigInt64 can hold; orjson cannot encode more), and other numbers of a
  smaller magnitude than 2**63 (PostgreSQL's jsonb gives `1e19` back as the
  integer 10000000000000000000, which no longer fits);
- no U+0000 in any string or object key (PostgreSQL text and jsonb cannot
  hold it);
- at most `max_items` elements in an array, `max_keys` keys in an object,
  `max_key_chars` characters in a key and `max_string_chars` in a string.

So whatever passes can be stored and encoded again. (orjson reads an
integer past 64 bits as a float: a body with a run of 19 or more digits is
read again by Python's json, which keeps integers whole, so the check sees
them.) A violation raises
`BoundsError` naming where (`path`, dotted like `fields.payload.a.0`), a
stable `code` and a sentence. A push checks its envelope with `skip` set to
`changes` and each change on its own, so one bad change is rejected alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_FLOAT_LIMIT = float(2**63)
_WALKED = (dict, list, str, int, float)
# A run of 19 digits, found by mapping every digit to "0" and the rest to " "
# (several times faster than a regular expression over a whole push).
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19
_RECURSION_LIMIT = 200  # deeper limits are walked by `check`'s own stack only


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 32
    max_items: int = 10_000
    max_keys: int = 1_000
    max_key_chars: int = 256
    max_string_chars: int = 2_000_000


DEFAULT = Limits()


class BoundsError(ValueError):
    """A JSON value outside the limits: `code` is stable, `path` says where."""

    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(f"{path or '(body)'}: {message}")
        self.path = path
        self.code = code
        self.message = message


class NotJSON(ValueError):
    """The bytes are not JSON at all (or nest deeper than the parser goes)."""


def decode(raw: bytes | str, limits: Limits = DEFAULT, skip: Iterable[str] = ()) -> Any:
    """Parse and check; `skip` names top-level keys whose elements the caller checks."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise NotJSON(str(exc)) from None
    data = raw.encode() if isinstance(raw, str) else raw
    if _LONG_RUN in data.translate(_DIGITS_AS_ZERO):  # maybe an integer orjson turned into a float
        try:
            value = json.loads(data)
        except RecursionError:
            message = f"nested deeper than {limits.max_depth} levels"
            raise BoundsError("", "too_deep", message) from None
    check(value, limits, skip=skip)
    return value


def check(
    value: Any, limits: Limits = DEFAULT, *, path: str = "", skip: Iterable[str] = ()
) -> None:
    """Raise BoundsError at the first part of `value` outside `limits`.

    `skip`: top-level keys whose array elements (or object values) are not
    walked: only their count is checked.
    """
    skipped = frozenset(skip)
    if limits.max_depth <= _RECURSION_LIMIT and _within(value, 1, limits, skipped):
        return
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is str:
            _check_string(item, where, limits)
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                raise BoundsError(where, "integer_out_of_range", "an integer beyond 64 bits")
        elif kind is float:
            if not -_FLOAT_LIMIT < item < _FLOAT_LIMIT:
                raise BoundsError(where, "number_out_of_range", "a number of 2**63 or more")
        elif kind is dict:
            _check_depth(where, depth, limits)
            if len(item) > limits.max_keys:
                raise BoundsError(where, "too_many_keys", f"more than {limits.max_keys} keys")
            for key, child in item.items():
                if len(key) > limits.max_key_chars:
                    raise BoundsError(
                        where, "key_too_long", f"a key longer than {limits.max_key_chars}"
                    )
                if "\x00" in key:
                    raise BoundsError(where, "nul_character", "a key holds U+0000")
                inner = f"{where}.{key}" if where else key
                if depth == 1 and key in skipped:
                    _check_count(child, inner, limits)
                elif type(child) in _WALKED:
                    stack.append((child, inner, depth + 1))
        elif kind is list:
            _check_depth(where, depth, limits)
            _check_count(item, where, limits)
            for index, child in enumerate(item):
                if type(child) in _WALKED:
                    stack.append((child, f"{where}.{index}" if where else str(index), depth + 1))


def within(item: Any, depth: int = 1, limits: Limits = DEFAULT) -> bool:
    """Whether `item`, found `depth` deep (the top value is 1), is within `limits`:
    `check`'s quick test, for a caller that knows the rest of a value is within them
    (the fields of a change whose other keys a typed decoder has checked)."""
    return _within(item, depth, limits, _NOTHING)


_NOTHING: frozenset[str] = frozenset()


def _within(item: Any, depth: int, limits: Limits, skipped: frozenset[str]) -> bool:
    """Whether `item` is within `limits`: `check`'s test without its paths, for the
    common value that passes (a recursion at most `max_depth` deep); `check` walks
    again for where a value fails, and so names the same place."""
    kind = type(item)
    if kind is dict:
        if depth > limits.max_depth or len(item) > limits.max_keys:
            return False
        longest, longest_text = limits.max_key_chars, limits.max_string_chars
        for key, child in item.items():
            if len(key) > longest or "\x00" in key:
                return False
            kind = type(child)
            # The scalars are tested here, not in a call: most values are one.
            if depth == 1 and key in skipped:
                if kind is list and len(child) > limits.max_items:
                    return False
            elif kind is str:
                if "\x00" in child or len(child) > longest_text:
                    return False
            elif kind is int:
                if not INT64_MIN <= child <= INT64_MAX:
                    return False
            elif kind is float:
                if not -_FLOAT_LIMIT < child < _FLOAT_LIMIT:
                    return False
            elif (kind is dict or kind is list) and not _within(child, depth + 1, limits, skipped):
                return False
        return True
    if kind is str:
        return "\x00" not in item and len(item) <= limits.max_string_chars
    if kind is int:
        return bool(INT64_MIN <= item <= INT64_MAX)
    if kind is float:
        return bool(-_FLOAT_LIMIT < item < _FLOAT_LIMIT)
    if kind is list:
        if depth > limits.max_depth or len(item) > limits.max_items:
            return False
        return all(_within(child, depth + 1, limits, skipped) for child in item)
    return True  # true, false, null (and nothing else comes out of a JSON parser)


def _check_depth(where: str, depth: int, limits: Limits) -> None:
    if depth > limits.max_depth:
        raise BoundsError(where, "too_deep", f"nested deeper than {limits.max_depth} levels")


def _check_count(item: Any, where: str, limits: Limits) -> None:
    if type(item) is list and len(item) > limits.max_items:
        raise BoundsError(where, "too_many_items", f"more than {limits.max_items} items")


def _check_string(text: str, where: str, limits: Limits) -> None:
    if "\x00" in text:
        raise BoundsError(where, "nul_character", "a string holds U+0000")
    if len(text) > limits.max_string_chars:
        raise BoundsError(
            where, "string_too_long", f"a string longer than {limits.max_string_chars}"
        )
