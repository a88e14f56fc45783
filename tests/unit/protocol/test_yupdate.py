"""The bounded Yjs update reader (protocol/yupdate.py): real updates pass; lies,
truncations and deep values are refused before pycrdt sees them."""

from __future__ import annotations

import contextlib
import random
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from protocol import yupdate
from protocol.yprotocol import encode_var_string, encode_varuint


def doc() -> Doc[Any]:
    return Doc(client_id=random.getrandbits(32))


def deep_any_update(levels: int) -> bytes:
    """An update holding one embedded value (content 8) of `levels` nested arrays."""
    struct = bytes([8]) + encode_varuint(1) + encode_var_string("a")  # info, parent: root "a"
    value = bytes([117, 1]) * levels + bytes([126])  # [[[...null...]]]
    body = encode_varuint(1) + value  # one value in the content
    structs = encode_varuint(1) + encode_varuint(1) + encode_varuint(7) + encode_varuint(0)
    return structs + struct + body + encode_varuint(0)  # no deletions


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)
edits = st.lists(
    st.one_of(
        # Text edits in ASCII (pycrdt counts other characters in UTF-16 units); other
        # values carry any text.
        st.tuples(
            st.just("text"),
            st.text(alphabet=string.ascii_letters, min_size=1, max_size=10),
            st.integers(0, 50),
        ),
        st.tuples(st.just("cut"), st.integers(0, 50), st.integers(1, 5)),
        st.tuples(st.just("array"), values),
        st.tuples(st.just("map"), st.text(min_size=1, max_size=4), values),
    ),
    min_size=1,
    max_size=12,
)


def edited(plan: list[tuple[Any, ...]]) -> Doc[Any]:
    made = doc()
    text = made.get("notes", type=Text)
    array = made.get("items", type=Array)
    mapping = made.get("meta", type=Map)
    for step in plan:
        if step[0] == "text":
            text.insert(min(step[2], len(text)), step[1])
        elif step[0] == "cut" and len(text):
            start = min(step[1], len(text) - 1)
            del text[start : min(len(text), start + step[2])]
        elif step[0] == "array":
            array.append(step[1])
        elif step[0] == "map":
            mapping[step[1]] = step[2]
    return made


@given(edits)
@settings(max_examples=150)
def test_updates_and_state_vectors_pycrdt_writes_are_read_whole(plan: list[Any]) -> None:
    made = edited(plan)
    yupdate.check_update(made.get_update())
    yupdate.check_state_vector(made.get_state())
    before = made.get_state()
    made.get("notes", type=Text).insert(0, "x")
    yupdate.check_update(made.get_update(before))  # an incremental update too


@given(edits, st.data())
@settings(max_examples=150)
def test_a_damaged_update_is_refused_or_harmless(plan: list[Any], data: st.DataObject) -> None:
    update = bytearray(edited(plan).get_update())
    if data.draw(st.booleans()):
        del update[data.draw(st.integers(0, len(update) - 1)) :]
    else:
        index = data.draw(st.integers(0, len(update) - 1))
        update[index] = data.draw(st.integers(0, 255))
    try:
        yupdate.check_update(bytes(update))
    except yupdate.UpdateError:
        return
    # What the reader passes, pycrdt may still refuse, but must not crash on.
    with contextlib.suppress(ValueError):
        doc().apply_update(bytes(update))


@given(st.binary(max_size=64))
def test_random_bytes_are_refused_or_read(raw: bytes) -> None:
    for check in (yupdate.check_update, yupdate.check_state_vector):
        try:
            check(raw)
        except yupdate.UpdateError:
            continue


@pytest.mark.parametrize("levels", [65, 5_000, 100_000])
def test_deep_embedded_values_are_refused(levels: int) -> None:
    with pytest.raises(yupdate.UpdateError, match="deeper than 64"):
        yupdate.check_update(deep_any_update(levels))


def test_values_as_deep_as_allowed_pass_and_load() -> None:
    update = deep_any_update(63)
    yupdate.check_update(update)
    doc().apply_update(update)


@pytest.mark.parametrize(
    "lie",
    [
        encode_varuint(2**28) + b"\x01",  # 2**28 clients in a few bytes
        encode_varuint(1) + encode_varuint(2**29 - 1) + b"\x01\x00",  # 2**29 structs
        b"\x00" + encode_varuint(2**28),  # a delete set of 2**28 clients
    ],
)
def test_counts_that_do_not_fit_the_bytes_are_refused(lie: bytes) -> None:
    with pytest.raises(yupdate.UpdateError, match="does not fit"):
        yupdate.check_update(lie)


def test_a_lying_state_vector_is_refused() -> None:
    with pytest.raises(yupdate.UpdateError, match="does not fit"):
        yupdate.check_state_vector(encode_varuint(2**29 - 1) + b"\x01\x02")


def test_updates_past_the_size_limit_are_refused() -> None:
    with pytest.raises(yupdate.UpdateError, match="at most"):
        yupdate.check_update(b"\x00" * 100, yupdate.YLimits(max_bytes=64))


def test_json_content_is_bounded_too() -> None:
    nested = "[" * 70 + "]" * 70
    struct = bytes([2]) + encode_varuint(1) + encode_var_string("a")  # JSON content
    body = encode_varuint(1) + encode_var_string(nested)
    structs = encode_varuint(1) + encode_varuint(1) + encode_varuint(7) + encode_varuint(0)
    with pytest.raises(yupdate.UpdateError, match="JSON content nested"):
        yupdate.check_update(structs + struct + body + encode_varuint(0))
