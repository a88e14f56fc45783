"""storage.ydoc_replica: a document takes updates in any order and ends as if
it had taken them in the order they were made (pycrdt alone can lose an item)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from protocol import yupdate
from storage.ydoc_replica import Replica, state_vector
from storage.ydoc_store import new_doc


def one_client_inserts(pieces: list[tuple[int, str]]) -> tuple[list[bytes], str]:
    """The updates of one editor inserting `piece` at character `position`, in turn."""
    doc = new_doc()
    text = doc.get("notes", type=Text)
    updates = []
    for position, piece in pieces:
        state = doc.get_state()
        current = str(text)
        text.insert(len(current[: min(position, len(current))].encode()), piece)
        updates.append(doc.get_update(state))
    return updates, str(text)


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("notes", type=Text))


CASE = [(0, "X"), (0, "X"), (0, "X"), (3, "Y")]
ORDER = (0, 2, 3, 1)


def test_pycrdt_alone_loses_an_item_when_two_updates_wait_for_a_third() -> None:
    """The case that needs the replica; when pycrdt fixes it this test says so."""
    updates, final = one_client_inserts(CASE)
    doc = new_doc()
    for index in ORDER:
        doc.apply_update(updates[index])
    assert final == "XXXY"
    assert text_of(doc) == "XXY"


def test_the_replica_integrates_the_waiting_updates_once_the_missing_one_arrives() -> None:
    updates, final = one_client_inserts(CASE)
    replica = Replica(new_doc())
    for index in ORDER[:3]:
        replica.apply(updates[index])
    assert replica.waiting == 2
    replica.apply(updates[ORDER[3]])
    assert replica.waiting == 0
    assert text_of(replica.doc) == final
    again = new_doc()
    again.apply_update(replica.doc.get_update())
    assert text_of(again) == final


def test_struct_ends_count_utf16_units_and_leave_out_skips() -> None:
    updates, _ = one_client_inserts([(0, "a😀é")])
    ((client, end),) = yupdate.struct_ends(updates[0]).items()
    assert end == 4  # a, the surrogate pair, é
    assert state_vector(new_doc().get_state()) == {}
    doc = new_doc()
    doc.apply_update(updates[0])
    assert state_vector(doc.get_state()) == {client: 4}


def test_an_update_whose_gap_never_fills_waits_without_harm() -> None:
    updates, _ = one_client_inserts([(0, "a"), (1, "b"), (2, "c")])
    replica = Replica(new_doc())
    replica.apply(updates[0])
    replica.apply(updates[2])
    assert replica.waiting == 1
    assert text_of(replica.doc) == "a"


edits = st.lists(
    st.tuples(
        st.integers(0, 2),  # which replica edits
        st.sampled_from(["insert", "delete", "sync"]),
        st.integers(0, 12),
        st.text(alphabet="aX é😀\n", min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=30,
)


def editing(steps: list[tuple[int, str, int, str]]) -> tuple[list[bytes], list[Doc[Any]]]:
    """Three editors taking turns (and merging each other's state now and then)."""
    docs = [new_doc() for _ in range(3)]
    updates: list[bytes] = []
    for who, kind, position, piece in steps:
        doc = docs[who]
        text = doc.get("notes", type=Text)
        state = doc.get_state()
        current = str(text)
        start = min(position, len(current))
        if kind == "insert":
            text.insert(len(current[:start].encode()), piece)
        elif kind == "delete" and start < len(current):
            stop = min(len(current), start + len(piece))
            del text[len(current[:start].encode()) : len(current[:stop].encode())]
        else:
            doc.apply_update(docs[(who + 1) % 3].get_update(state))
            continue
        updates.append(doc.get_update(state))
    return updates, docs


@pytest.mark.parametrize("max_held", [1, 16])
@settings(max_examples=150, deadline=None)
@given(steps=edits, seed=st.integers(0, 2**32 - 1))
def test_any_delivery_order_ends_in_the_in_order_document(
    max_held: int, steps: list[tuple[int, str, int, str]], seed: int
) -> None:
    updates, _ = editing(steps)
    in_order = new_doc()
    for update in updates:
        in_order.apply_update(update)
    shuffled = list(updates)
    random.Random(seed).shuffle(shuffled)
    replica = Replica(new_doc(), max_held=max_held)
    for update in shuffled:
        replica.apply(update)
    assert replica.waiting == 0
    assert text_of(replica.doc) == text_of(in_order)


def test_the_encoding_keeps_the_updates_still_waiting() -> None:
    """A compaction folds a replica whose updates wait for a missing one (not yet
    committed): its encoding carries them, so a document loaded from it reads whole
    once the missing update arrives; pycrdt's own encoding drops them."""
    updates, final = one_client_inserts(CASE)
    replica = Replica(new_doc())
    for index in ORDER[:3]:
        replica.apply(updates[index])
    assert replica.waiting == 2
    dropped = Replica(new_doc())
    dropped.apply(replica.doc.get_update())
    dropped.apply(updates[ORDER[3]])
    assert text_of(dropped.doc) != final
    loaded = Replica(new_doc())
    loaded.apply(replica.encode())
    loaded.apply(updates[ORDER[3]])
    assert text_of(loaded.doc) == final
    assert Replica(new_doc()).encode() == new_doc().get_update()
