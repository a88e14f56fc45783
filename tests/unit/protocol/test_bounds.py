"""The bounded JSON decoder (protocol/bounds.py): everything it passes can be
encoded again; everything else is refused with a path and a stable code."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import bounds

SMALL = bounds.Limits(max_depth=6, max_items=5, max_keys=5, max_key_chars=8, max_string_chars=20)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=7) | st.dictionaries(st.text(max_size=10), children, max_size=7)
    ),
    max_leaves=40,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth - 1):
        value = [value]
    return value


CODES = {
    "too_deep",
    "integer_out_of_range",
    "number_out_of_range",
    "nul_character",
    "too_many_items",
    "too_many_keys",
    "key_too_long",
    "string_too_long",
}


def refusal(value: Any, limits: bounds.Limits = SMALL) -> str | None:
    """The code `check` refuses `value` with, or None when it passes."""
    try:
        bounds.check(value, limits)
    except bounds.BoundsError as exc:
        return exc.code
    return None


@given(json_values)
@settings(max_examples=300)
def test_what_passes_encodes_again_and_what_fails_names_a_code(value: Any) -> None:
    code = refusal(value)
    if code is None:
        assert orjson.loads(orjson.dumps(value)) == value
    else:
        assert code in CODES


def walked(value: Any, limits: bounds.Limits, skip: frozenset[str]) -> str | None:
    """The code of `check`'s own walk (its quick pass left out), or None."""
    kept = bounds._RECURSION_LIMIT
    bounds._RECURSION_LIMIT = 0  # no limit is shallow enough for the quick pass
    try:
        bounds.check(value, limits, skip=skip)
    except bounds.BoundsError as exc:
        return exc.code
    finally:
        bounds._RECURSION_LIMIT = kept
    return None


@given(json_values, st.sampled_from([frozenset(), frozenset({"", "a"})]))
@settings(max_examples=500)
def test_the_quick_pass_passes_exactly_what_the_walk_passes(
    value: Any, skip: frozenset[str]
) -> None:
    assert bounds._within(value, 1, SMALL, skip) == (walked(value, SMALL, skip) is None)


@given(st.binary(max_size=200))
def test_random_bytes_are_json_or_refused_never_a_crash(raw: bytes) -> None:
    try:
        value = bounds.decode(raw)
    except (bounds.NotJSON, bounds.BoundsError):
        return  # refused with a documented error, which is all that may happen
    orjson.dumps(value)


def test_depth_is_counted_from_the_top_and_named_by_its_path() -> None:
    bounds.check(nested(33))  # 32 arrays around a number
    bounds.check({"fields": {"payload": nested(31)}})
    with pytest.raises(bounds.BoundsError) as refused:
        bounds.check({"fields": {"payload": nested(32)}})
    assert refused.value.code == "too_deep"
    assert refused.value.path.startswith("fields.payload")


def test_a_value_past_the_parsers_own_limit_is_not_json() -> None:
    with pytest.raises(bounds.NotJSON):
        bounds.decode(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (2**63, "integer_out_of_range"),
        (1e19, "number_out_of_range"),
        (-1.5e308, "number_out_of_range"),
        (-(2**63) - 1, "integer_out_of_range"),
        ({"a": "x\x00y"}, "nul_character"),
        ({"x\x00": 1}, "nul_character"),
        ({"k" * 300: 1}, "key_too_long"),
        (list(range(10_001)), "too_many_items"),
        ({str(n): n for n in range(1_001)}, "too_many_keys"),
    ],
)
def test_each_limit(value: Any, code: str) -> None:
    with pytest.raises(bounds.BoundsError) as refused:
        bounds.check(value)
    assert refused.value.code == code


def test_limits_hold_at_their_edges() -> None:
    bounds.check([2**63 - 1, -(2**63), True, 9.2e18, -9.2e18, 1e-300, "é" * 10])
    assert bounds.decode(b'{"a": [1, 2, {"b": null}]}') == {"a": [1, 2, {"b": None}]}


def test_nan_and_infinity_are_not_json() -> None:
    for raw in (b"NaN", b"[Infinity]", b'{"lat": -Infinity}', b"1e400"):
        with pytest.raises(bounds.NotJSON):
            bounds.decode(raw)


def test_skipped_keys_are_counted_not_walked() -> None:
    body = {"client_id": "a", "changes": [nested(40), {"bad": "\x00"}]}
    bounds.check(body, skip=("changes",))
    with pytest.raises(bounds.BoundsError):
        bounds.check(body)
    with pytest.raises(bounds.BoundsError) as refused:
        bounds.check({"changes": list(range(10_001))}, skip=("changes",))
    assert refused.value.code == "too_many_items"


def test_an_integer_past_64_bits_is_seen_though_orjson_reads_it_as_a_float() -> None:
    for raw in (
        b'{"v": 18446744073709551616}',
        b"[-9223372036854775809]",
        b"[1" + b"0" * 30 + b"]",
    ):
        with pytest.raises(bounds.BoundsError) as refused:
            bounds.decode(raw)
        assert refused.value.code == "integer_out_of_range"
    assert bounds.decode(b'{"s": "12345678901234567890123"}') == {"s": "12345678901234567890123"}
