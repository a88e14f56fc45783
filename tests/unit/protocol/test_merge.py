"""Merge rules: per-field LWW by HLC, tombstones, concurrent-edit detection.

The properties that must hold for all inputs: the final values and stamps do
not depend on arrival order, merging is idempotent, and the highest stamp of
each field always survives.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.hlc import Stamp
from protocol.merge import (
    FieldClock,
    MergeResult,
    Outcome,
    RowState,
    Write,
    merge_delete,
    merge_upsert,
)

FIELDS = ("title", "status", "priority", "notes")
CLIENTS = ("dev-a", "dev-b", "dev-c")


def stamp(ms: int, client: str = "dev-a", counter: int = 0) -> Stamp:
    return Stamp(1_764_000_000_000 + ms, counter, client)


def write(client: str, base: int, **fields: tuple[Any, Stamp]) -> Write:
    return Write(client, base, fields)


def visible(state: RowState) -> tuple[Any, ...]:
    """What devices must agree on: values, the stamp of each field, the tombstone stamp."""
    return (
        dict(state.values),
        {name: clock.stamp for name, clock in state.clocks.items()},
        None if state.deleted is None else state.deleted.stamp,
    )


# --- examples -----------------------------------------------------------------


def test_create_then_later_write_wins() -> None:
    first = merge_upsert(None, write("dev-a", 0, title=("A", stamp(1))), version=1)
    assert first.created
    assert first.outcome is Outcome.APPLIED
    second = merge_upsert(first.state, write("dev-b", 1, title=("B", stamp(2, "dev-b"))), 2)
    assert second.outcome is Outcome.APPLIED
    assert second.state.values["title"] == "B"
    assert second.state.clocks["title"] == FieldClock(stamp(2, "dev-b"), 2, "dev-b")


def test_older_write_is_superseded() -> None:
    state = merge_upsert(None, write("dev-a", 0, title=("new", stamp(5))), 1).state
    late = merge_upsert(state, write("dev-b", 1, title=("old", stamp(3, "dev-b"))), 2)
    assert late.outcome is Outcome.SUPERSEDED
    assert late.superseded == ("title",)
    assert late.state.values["title"] == "new"


def test_ties_are_broken_by_node_id() -> None:
    state = merge_upsert(None, write("dev-a", 0, title=("a", stamp(5, "dev-a"))), 1).state
    tie = merge_upsert(state, write("dev-b", 0, title=("b", stamp(5, "dev-b"))), 2)
    assert tie.state.values["title"] == "b"  # "dev-b" > "dev-a"


def test_concurrent_edit_of_a_guarded_field_is_a_conflict_with_a_provisional_winner() -> None:
    base = merge_upsert(None, write("dev-a", 0, status=("open", stamp(1))), 1).state
    server = merge_upsert(base, write("dev-b", 1, status=("paused", stamp(3, "dev-b"))), 2).state
    # dev-a last saw version 1; dev-b changed status at version 2: concurrent.
    result = merge_upsert(
        server, write("dev-a", 1, status=("done", stamp(2))), 3, frozenset({"status"})
    )
    assert result.outcome is Outcome.CONFLICT
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.server_value, conflict.client_value) == (
        "status",
        "paused",
        "done",
    )
    assert not conflict.client_won
    assert result.state.values["status"] == "paused"


def test_concurrent_edit_of_a_cosmetic_field_resolves_silently() -> None:
    base = merge_upsert(None, write("dev-a", 0, notes=("x", stamp(1))), 1).state
    server = merge_upsert(base, write("dev-b", 1, notes=("y", stamp(2, "dev-b"))), 2).state
    result = merge_upsert(server, write("dev-a", 1, notes=("z", stamp(3))), 3, frozenset())
    assert result.outcome is Outcome.APPLIED
    assert result.state.values["notes"] == "z"


def test_same_client_or_seen_version_is_not_concurrent() -> None:
    base = merge_upsert(None, write("dev-a", 0, status=("open", stamp(1))), 1).state
    mine = merge_upsert(base, write("dev-a", 0, status=("x", stamp(2))), 2, frozenset({"status"}))
    assert mine.outcome is Outcome.APPLIED
    seen = merge_upsert(
        mine.state, write("dev-b", 2, status=("y", stamp(3, "dev-b"))), 3, frozenset({"status"})
    )
    assert seen.outcome is Outcome.APPLIED


def test_delete_against_concurrent_update_stands_and_conflicts() -> None:
    base = merge_upsert(None, write("dev-a", 0, title=("t", stamp(1))), 1).state
    updated = merge_upsert(base, write("dev-b", 1, title=("u", stamp(5, "dev-b"))), 2).state
    deleted = merge_delete(updated, stamp(3), "dev-a", base_version=1, version=3)
    assert deleted.outcome is Outcome.CONFLICT
    assert deleted.delete_conflict
    assert deleted.state.deleted is not None


def test_update_after_concurrent_delete_stays_deleted_and_conflicts() -> None:
    base = merge_upsert(None, write("dev-a", 0, title=("t", stamp(1))), 1).state
    deleted = merge_delete(base, stamp(2), "dev-a", base_version=1, version=2).state
    late = merge_upsert(deleted, write("dev-b", 1, title=("u", stamp(3, "dev-b"))), 3)
    assert late.outcome is Outcome.CONFLICT
    assert late.state.deleted is not None


def test_repeated_delete_is_superseded() -> None:
    gone = merge_delete(None, stamp(2), "dev-a", 0, 1)
    assert gone.outcome is Outcome.APPLIED
    again = merge_delete(gone.state, stamp(2), "dev-a", 0, 2)
    assert again.outcome is Outcome.SUPERSEDED


def test_clocks_round_trip_through_json() -> None:
    state = merge_upsert(None, write("dev-a", 0, title=("t", stamp(1))), 7).state
    state = merge_delete(state, stamp(2), "dev-b", 7, 8).state
    again = RowState.from_row(state.values, state.clocks_json())
    assert again == state


# --- properties -----------------------------------------------------------------


@st.composite
def writes(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """A history of upserts and deletes with distinct stamps."""
    count = draw(st.integers(1, 12))
    times = draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count, unique=True))
    ops: list[tuple[str, Any]] = []
    for ms in times:
        client = draw(st.sampled_from(CLIENTS))
        base = draw(st.integers(0, 12))
        if draw(st.integers(0, 9)) == 0:
            ops.append(("delete", (stamp(ms, client), client, base)))
            continue
        names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
        value = draw(st.integers(0, 3))
        ops.append(
            ("upsert", write(client, base, **{n: (value, stamp(ms, client)) for n in names}))
        )
    return ops


def apply_all(ops: list[tuple[str, Any]]) -> RowState | None:
    state: RowState | None = None
    for version, (kind, op) in enumerate(ops, start=1):
        result: MergeResult
        if kind == "upsert":
            result = merge_upsert(state, op, version, frozenset({"status"}))
        else:
            result = merge_delete(state, op[0], op[1], op[2], version)
        state = result.state
    return state


@settings(max_examples=300)
@given(writes(), st.randoms(use_true_random=False))
def test_order_does_not_matter(ops: list[tuple[str, Any]], rng: Any) -> None:
    shuffled = list(ops)
    rng.shuffle(shuffled)
    first, second = apply_all(ops), apply_all(shuffled)
    assert first is not None
    assert second is not None
    assert visible(first) == visible(second)


@settings(max_examples=200)
@given(writes())
def test_merging_twice_changes_nothing(ops: list[tuple[str, Any]]) -> None:
    once = apply_all(ops)
    twice = apply_all(ops + ops)
    assert once is not None
    assert twice is not None
    assert visible(once) == visible(twice)


@settings(max_examples=200)
@given(writes())
def test_the_highest_stamp_of_each_field_survives(ops: list[tuple[str, Any]]) -> None:
    final = apply_all(ops)
    assert final is not None
    for name in FIELDS:
        touching = [op for kind, op in ops if kind == "upsert" and name in op.fields]
        if not touching:
            assert name not in final.values
            continue
        best = max(touching, key=lambda w: w.fields[name][1])
        assert final.clocks[name].stamp == best.fields[name][1]
        assert final.values[name] == best.fields[name][0]
    deletes = [op[0] for kind, op in ops if kind == "delete"]
    assert (final.deleted.stamp if final.deleted else None) == (max(deletes) if deletes else None)
