"""Hybrid logical clock: text format, ordering, monotonicity, clamping."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol.hlc import MAX_COUNTER, MAX_WALL_MS, HybridClock, InvalidStamp, Stamp, clamp

nodes = st.from_regex(r"[A-Za-z0-9._\-]{1,12}", fullmatch=True)
stamps = st.builds(
    Stamp,
    wall_ms=st.integers(0, 9_999_999_999_999),
    counter=st.integers(0, MAX_COUNTER),
    node=nodes,
)


def test_wire_format() -> None:
    stamp = Stamp(1764000000000, 0, "dev-a")
    assert str(stamp) == "1764000000000:0000:dev-a"
    assert Stamp.parse("1764000000000:0042:dev-a") == Stamp(1764000000000, 42, "dev-a")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1764000000000:0000",
        "176400000000:0000:a",
        "1764000000000:00000:a",
        "1764000000000:0000:",
        "1764000000000:0000:bad node",
        "x764000000000:0000:a",
    ],
)
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidStamp):
        Stamp.parse(text)


def test_constructor_refuses_out_of_range() -> None:
    with pytest.raises(InvalidStamp):
        Stamp(-1, 0, "a")
    with pytest.raises(InvalidStamp):
        Stamp(0, MAX_COUNTER + 1, "a")


@given(stamps, stamps)
def test_text_order_is_clock_order(a: Stamp, b: Stamp) -> None:
    assert (a < b) == (str(a) < str(b))
    assert Stamp.parse(str(a)) == a


@given(st.lists(st.integers(0, 2_000), min_size=1, max_size=50))
def test_now_is_strictly_increasing_even_when_wall_time_stalls(walls: list[int]) -> None:
    times = iter(walls)
    clock = HybridClock("n", now_ms=lambda: next(times))
    seen = [clock.now() for _ in walls]
    assert all(a < b for a, b in itertools.pairwise(seen))


@given(st.integers(0, 10_000), stamps)
def test_observe_is_later_than_both(wall: int, remote: Stamp) -> None:
    assume((remote.wall_ms, remote.counter) != (MAX_WALL_MS, MAX_COUNTER))  # nothing is later
    clock = HybridClock("local", now_ms=lambda: wall)
    before = clock.now()
    after = clock.observe(remote)
    assert after > before
    assert (after.wall_ms, after.counter) > (remote.wall_ms, remote.counter) or (
        remote.counter == MAX_COUNTER and after.wall_ms == remote.wall_ms + 1
    )


def test_counter_overflow_moves_to_next_millisecond() -> None:
    clock = HybridClock("n", now_ms=lambda: 5)
    clock.last = Stamp(5, MAX_COUNTER, "n")
    assert clock.now() == Stamp(6, 0, "n")


def test_clamp() -> None:
    ahead = Stamp(10_000_000, 3, "dev")
    clamped, flagged = clamp(ahead, server_now_ms=1_000, max_skew_ms=300_000)
    assert flagged
    assert clamped == Stamp(301_000, 3, "dev")
    same, flagged = clamp(Stamp(1_000, 0, "dev"), server_now_ms=1_000, max_skew_ms=0)
    assert not flagged
    assert same == Stamp(1_000, 0, "dev")


def test_no_stamp_follows_the_largest_one() -> None:
    clock = HybridClock("local", now_ms=lambda: 0)
    with pytest.raises(InvalidStamp, match="later than the largest"):
        clock.observe(Stamp(MAX_WALL_MS, MAX_COUNTER, "far"))


@given(st.text(alphabet="0123456789:abn\n\u0661\u0660\uff11", max_size=24))
def test_a_parsed_stamp_is_written_back_as_its_text(text: str) -> None:
    """Only ASCII digits, and nothing after the node: `Stamp.parse` accepts a text
    exactly when it is the stamp's own text."""
    try:
        stamp = Stamp.parse(text)
    except InvalidStamp:
        return
    assert str(stamp) == text


@pytest.mark.parametrize(
    "text",
    [
        "1764000000000:0000:dev\n",
        "\u0661764000000000:0000:dev",
        "1764000000000:000\uff11:dev",
    ],
)
def test_digits_other_than_ascii_and_a_trailing_newline_are_refused(text: str) -> None:
    with pytest.raises(InvalidStamp):
        Stamp.parse(text)
