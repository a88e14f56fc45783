"""A pycrdt document that takes Yjs updates in any order, as JavaScript Yjs does.

pycrdt 0.14.13 (Yrs) can lose an item when two or more updates wait for a
missing one and it then arrives: one client's inserts u0..u3 applied as u0,
u2, u3, u1 leave a document that reads "XXY" instead of "XXXY", whose state
vector stops before the lost item and whose encoding drops what follows it
(tests/unit/storage/test_ydoc_replica.py holds the case). Offering the waiting updates
again heals it. The server meets such orders wherever it merges updates that
were not written in causal order: loading and compacting a document (row ids
are not commit order) and an offline phone's `ydoc` changes.

So an update the document has not wholly integrated (its state vector stops
short of the update's own ends, protocol.yupdate.struct_ends) is held and
offered again each time the state vector moves, until it is integrated. Past
`MAX_HELD` waiting updates they are merged into one, so a client sending gaps
costs a bounded amount of work per update.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, merge_updates

from protocol import yupdate
from protocol.yprotocol import decode_varuint

MAX_HELD = 16


def state_vector(encoded: bytes) -> dict[int, int]:
    """A state vector as pycrdt encodes it (trusted bytes): client -> next clock."""
    count, at = decode_varuint(encoded, 0)
    clocks: dict[int, int] = {}
    for _ in range(count):
        client, at = decode_varuint(encoded, at)
        clocks[client], at = decode_varuint(encoded, at)
    return clocks


def _holds(clocks: dict[int, int], ends: dict[int, int]) -> bool:
    return all(clocks.get(client, 0) >= end for client, end in ends.items())


class Replica:
    """A document and the updates it still waits to integrate."""

    def __init__(self, doc: Doc[Any], *, max_held: int = MAX_HELD) -> None:
        self.doc = doc
        self.max_held = max_held
        self._held: list[tuple[bytes, dict[int, int]]] = []

    @property
    def waiting(self) -> int:
        """How many updates wait for a missing one."""
        return len(self._held)

    def apply(self, update: bytes, ends: dict[int, int] | None = None) -> None:
        """Apply an update already checked by protocol.yupdate.check_update (`ends`:
        its struct ends, as check_update answered them; read here when not given)."""
        before = self.doc.get_state()
        self.doc.apply_update(update)
        after = self.doc.get_state()
        if ends is None:
            ends = yupdate.struct_ends(update)
        if not _holds(state_vector(after), ends):
            self._hold(update, ends)
        if self._held and after != before:
            self._offer_held()

    def encode(self) -> bytes:
        """The whole state as one update, the updates still waiting included: pycrdt
        leaves them out of the document's own encoding, and a snapshot without them
        would lose them once their rows are folded and deleted."""
        state = self.doc.get_update()
        if not self._held:
            return state
        return merge_updates(state, *(held for held, _ in self._held))

    def _hold(self, update: bytes, ends: dict[int, int]) -> None:
        self._held.append((update, ends))
        if len(self._held) > self.max_held:
            merged = merge_updates(*(held for held, _ in self._held))
            self._held = [(merged, yupdate.struct_ends(merged))]

    def _offer_held(self) -> None:
        """Offer the waiting updates again while that moves the state vector."""
        moved = True
        while moved and self._held:
            moved = False
            waiting, self._held = self._held, []
            for update, ends in waiting:
                before = self.doc.get_state()
                self.doc.apply_update(update)
                after = self.doc.get_state()
                moved = moved or after != before
                if not _holds(state_vector(after), ends):
                    self._held.append((update, ends))
