"""y-protocols framing (protocol/yprotocol.py): round trips, refusals, pycrdt agreement."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import yprotocol as y
from protocol.yprotocol import (
    AuthMessage,
    AwarenessEntry,
    AwarenessMessage,
    FrameError,
    QueryAwarenessMessage,
    SyncMessage,
    SyncType,
)

uints = st.integers(min_value=0, max_value=y.MAX_SAFE_INTEGER)
messages = st.one_of(
    st.builds(SyncMessage, st.sampled_from(SyncType), st.binary(max_size=300)),
    st.builds(AwarenessMessage, st.binary(max_size=300)),
    st.builds(AuthMessage, st.text(max_size=50)),
    st.just(QueryAwarenessMessage()),
)
json_states = st.one_of(
    st.just("null"),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps),
)
entries = st.builds(AwarenessEntry, uints, uints, json_states)


@given(uints)
def test_varuint_round_trips(value: int) -> None:
    encoded = y.encode_varuint(value)
    assert y.decode_varuint(encoded) == (value, len(encoded))
    assert encoded == pycrdt.write_var_uint(value)


@given(messages)
def test_messages_round_trip(message: y.Message) -> None:
    assert y.decode(y.encode(message)) == message


@given(messages, st.data())
def test_a_truncated_frame_is_refused(message: y.Message, data: st.DataObject) -> None:
    frame = y.encode(message)
    cut = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    with pytest.raises(FrameError):
        y.decode(frame[:cut])


@given(messages, st.binary(min_size=1, max_size=20))
def test_trailing_bytes_are_refused(message: y.Message, extra: bytes) -> None:
    with pytest.raises(FrameError):
        y.decode(y.encode(message) + extra)


@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_answers_or_raises_frame_error(frame: bytes) -> None:
    with contextlib.suppress(FrameError):  # the only exception a decoder may raise
        y.decode(frame)


@given(st.lists(entries, max_size=5))
def test_awareness_payloads_round_trip(found: list[AwarenessEntry]) -> None:
    assert y.decode_awareness(y.encode_awareness(found)) == found


def test_overlong_and_oversized_varuints_are_refused() -> None:
    with pytest.raises(FrameError, match="longer than 8"):
        y.decode_varuint(b"\x80" * 9 + b"\x01")
    with pytest.raises(FrameError, match="2\\*\\*53"):
        y.decode_varuint(b"\xff" * 7 + b"\x7f")
    with pytest.raises(ValueError, match="out of range"):
        y.encode_varuint(-1)


def test_a_length_running_past_the_frame_is_refused() -> None:
    with pytest.raises(FrameError, match="past the end"):
        y.decode(bytes([0, 2]) + y.encode_varuint(1000) + b"abc")


def test_unknown_types_are_refused() -> None:
    for frame in (b"\x09", b"\x00\x07\x00", b"\x02\x05\x00"):
        with pytest.raises(FrameError, match="unknown"):
            y.decode(frame)


def test_frames_match_pycrdt_and_y_websocket() -> None:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.get("notes", type=pycrdt.Text).insert(0, "hi")
    update = doc.get_update()
    assert y.sync_update(update) == pycrdt.create_update_message(update)
    assert y.sync_step1(doc.get_state()) == pycrdt.create_sync_message(doc)
    assert y.awareness(b"xyz") == pycrdt.create_awareness_message(b"xyz")
    assert y.decode(y.sync_step2(update)) == SyncMessage(SyncType.STEP2, update)
    # y-protocols' permission-denied auth message: [2, 0, varstring reason]
    assert y.encode(AuthMessage("no")) == b"\x02\x00\x02no"
    assert y.encode(QueryAwarenessMessage()) == b"\x03"


def test_awareness_states_must_be_json() -> None:
    payload = (
        y.encode_varuint(1) + y.encode_varuint(7) + y.encode_varuint(1) + y.encode_var_string("{")
    )
    with pytest.raises(FrameError, match="JSON"):
        y.decode_awareness(payload)
