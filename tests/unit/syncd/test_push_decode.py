"""The push's fast change decoder (msgspec) agrees with the `Change` model.

`decode_change` takes the common upserts and deletes; whatever it declines
takes pydantic's path, so a bad change gets the same problem as before. What
it accepts must be exactly what `Change.model_validate` makes of the same
input, and it must never accept what the model refuses.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import bounds
from protocol.changes import Change
from syncd.sync.push import decode_change, parse_change

STAMP = "1764000000000:0000:dev-a"
ID = "0b4ad9c6-3b8e-4d55-9a66-6e1d3b7a40a1"


def _agrees(raw: dict[str, Any]) -> Change | None:
    """Check the decoder against the model on `raw`; answer the decoded change."""
    fast = decode_change(raw)
    try:
        model = Change.model_validate(raw)
    except ValidationError:
        assert fast is None, f"the decoder accepted what the model refuses: {raw!r}"
        return None
    if fast is not None:
        assert fast == model
        assert fast.model_dump() == model.model_dump()
        assert fast.model_fields_set == model.model_fields_set
        assert list(vars(fast)) == list(vars(model))
    return fast


def test_the_common_changes_take_the_fast_path() -> None:
    upsert = {
        "entity": "task",
        "id": ID,
        "op": "upsert",
        "fields": {"title": "Pump", "location": {"address": "1 Olaya St"}},
        "hlc": STAMP,
        "base_version": 3,
        "field_hlc": {"title": "1764000000001:0000:dev-a"},
    }
    delete = {"entity": "task", "id": ID, "op": "delete", "hlc": STAMP}
    for raw in (upsert, delete):
        assert _agrees(raw) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"op": "upsert", "fields": {}},  # an upsert needs a field
        {"op": "upsert", "fields": {"a": 1}, "field_hlc": {"b": STAMP}},
        {"op": "upsert", "fields": {"a": 1}, "hlc": "not a stamp"},
        {"op": "upsert", "fields": {"a": 1}, "field_hlc": {"a": "1:2:3"}},
        {"op": "upsert", "fields": {"a": 1}, "base_version": -1},
        {"op": "upsert", "fields": {"a": 1}, "base_version": 2**63},
        {"op": "upsert", "fields": {"a": 1}, "base_version": True},
        {"op": "upsert", "fields": {"a": 1}, "base_version": 1.0},
        {"op": "upsert", "fields": {"a": 1}, "entity": ""},
        {"op": "upsert", "fields": {"a": 1}, "entity": "x" * 33},
        {"op": "upsert", "fields": {"a": 1}, "id": "not-a-uuid"},
        {"op": "upsert", "fields": None},
        {"op": "upsert", "fields": {"a": 1}, "surprise": 1},
        {"op": "remove"},
        {"op": "delete", "fields": {"a": 1}, "field_hlc": {"b": STAMP}},
        {"op": "action", "action": "start"},  # the model's path, not the decoder's
        {"op": "ydoc", "update": "AAE="},
        {"op": "upsert", "fields": {"a": 1}, "action": None},
        {"op": "upsert", "fields": {"a": 1}, "id": "{" + ID + "}"},
        {"op": "upsert", "fields": {"a": 1}, "id": ID.replace("-", "")},
    ],
)
def test_every_other_change_is_the_model_s_to_judge(change: dict[str, Any]) -> None:
    raw = {"entity": "task", "id": ID, "hlc": STAMP, **change}
    _agrees(raw)


def test_a_refused_change_gets_the_model_s_problem() -> None:
    raw = {"entity": "task", "id": ID, "op": "upsert", "fields": {}, "hlc": STAMP}
    _, result = parse_change(raw)
    assert not isinstance(result, Change)
    assert result.problem is not None
    assert result.problem["code"] == "validation_failed"
    assert [e["code"] for e in result.problem["errors"]] == ["value_error"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_stamps = st.sampled_from([STAMP, "1764000000000:0001:dev-b", "nope", "1:2:3"])
_values = {
    "entity": st.sampled_from(["task", "", "x" * 33, 7]) | st.text(max_size=40),
    "id": st.sampled_from([ID, ID.upper(), ID.replace("-", ""), "x", 3]) | st.uuids().map(str),
    "op": st.sampled_from(["upsert", "delete", "action", "ydoc", "UPSERT", None]),
    "hlc": _stamps | _json,
    "base_version": st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, True, 1.0, "1", None]),
    "fields": st.dictionaries(st.sampled_from(["title", "a", "b"]), _json, max_size=3) | _json,
    "field_hlc": st.none()
    | st.dictionaries(st.sampled_from(["title", "a", "b"]), _stamps | _json, max_size=2)
    | _json,
    "action": st.none() | st.text(max_size=3),
    "extra": _json,
}


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            key: strategy
            for key, strategy in _values.items()
            if key not in ("entity", "id", "op", "hlc")
        },
    ),
    st.fixed_dictionaries({}, optional={k: _values[k] for k in ("entity", "id", "op", "hlc")}),
    st.booleans(),
)
def test_the_decoder_never_disagrees_with_the_model(
    optional: dict[str, Any], required: dict[str, Any], complete: bool
) -> None:
    base = {"entity": "task", "id": str(uuid.uuid4()), "op": "upsert", "hlc": STAMP}
    raw = {**(base if complete else {}), **required, **optional}
    _agrees(raw)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


_hostile = st.sampled_from(
    ["a\x00b", "x" * 2_000_001, 2**63, -(2**63) - 1, 1e19, _deep(40), [0] * 10_001]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=3) | st.sampled_from(["k\x00", "k" * 257]),
        _json | _hostile | st.lists(_hostile, max_size=2) | st.dictionaries(st.just("n"), _hostile),
        max_size=3,
    ),
    st.sampled_from(["task", "ta\x00sk"]),
    st.sampled_from(["upsert", "delete"]),
)
def test_the_unchecked_fast_path_takes_only_changes_within_the_limits(
    fields: dict[str, Any], entity: str, op: str
) -> None:
    """`parse_change` decodes a common change before `bounds.check` has seen it: it
    must take only what the check would pass, and make of it what the checked
    path makes."""
    raw = {"entity": entity, "id": ID, "op": op, "hlc": STAMP, "fields": fields}
    fast = decode_change(raw, bounded=False)
    try:
        bounds.check(raw)
    except bounds.BoundsError:
        assert fast is None, f"the fast path took a change outside the limits: {raw!r}"
        return
    assert fast == decode_change(raw)
