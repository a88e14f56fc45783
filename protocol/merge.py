"""Merging a change into a row: per-field last-writer-wins by HLC, tombstones,
and the detection of concurrent edits that an admin should look at.

A row's state is its values, one clock per field (the stamp that set it, the
tenant version at which it was set, and the client that set it) and, once
deleted, the tombstone's clock. Merging is deterministic and independent of
arrival order for the values and stamps it keeps: a field takes an incoming
value only when the incoming stamp is greater than the field's stamp.

Two edits are concurrent when the field (or tombstone) was last set by another
client at a version newer than the change's `base_version` (the version at
which the device last saw the row). LWW still picks the provisional winner so
every device converges; the result lists the conflict for the inbox when the
field is one the entity's policy guards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from protocol.hlc import Stamp


class Outcome(StrEnum):
    APPLIED = "applied"
    SUPERSEDED = "superseded"
    CONFLICT = "conflict"
    REJECTED = "rejected"


# The text each stamp was parsed from, by identity: a stamp's text is its canonical
# form (`Stamp.parse` takes exactly what `str` writes), so a stamp read from a change
# is written back without being formatted again.
_texts: dict[int, tuple[Stamp, str]] = {}


def remember_text(stamp: Stamp, text: str) -> None:
    """Note that `stamp` was parsed from `text` (`str(stamp) == text`)."""
    if len(_texts) >= 16_384:
        _texts.clear()
    _texts[id(stamp)] = (stamp, text)


def stamp_text(stamp: Stamp) -> str:
    """`str(stamp)`, remembered for stamps parsed through `remember_text`."""
    known = _texts.get(id(stamp))
    if known is not None and known[0] is stamp:
        return known[1]
    return str(stamp)


# The types below are plain slotted dataclasses, built once and never changed after
# (a frozen dataclass's construction cost more than the merge of a task creation).


@dataclass(slots=True)
class FieldClock:
    stamp: Stamp
    version: int
    client_id: str

    def as_json(self) -> dict[str, Any]:
        return {"hlc": str(self.stamp), "v": self.version, "by": self.client_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldClock:
        return cls(Stamp.parse(data["hlc"]), int(data["v"]), str(data["by"]))


@dataclass(slots=True)
class RowState:
    values: Mapping[str, Any] = field(default_factory=dict)
    clocks: Mapping[str, FieldClock] = field(default_factory=dict)
    deleted: FieldClock | None = None

    def clocks_json(self) -> dict[str, Any]:
        """The clocks as stored: fields set by one write share one clock, and so one
        JSON object (never changed in place: a row's clocks are replaced whole)."""
        data: dict[str, Any] = {}
        written: dict[int, dict[str, Any]] = {}
        last, last_json = None, None
        for name, clock in self.clocks.items():
            if clock is not last:
                last, last_json = clock, written.get(id(clock))
                if last_json is None:
                    last_json = written[id(clock)] = {
                        "hlc": stamp_text(clock.stamp),
                        "v": clock.version,
                        "by": clock.client_id,
                    }
            data[name] = last_json
        if self.deleted is not None:
            data["_deleted"] = self.deleted.as_json()
        return data

    @classmethod
    def from_row(cls, values: Mapping[str, Any], clocks_json: Mapping[str, Any]) -> RowState:
        clocks = {k: FieldClock.from_json(v) for k, v in clocks_json.items() if k != "_deleted"}
        deleted = clocks_json.get("_deleted")
        return cls(dict(values), clocks, FieldClock.from_json(deleted) if deleted else None)


@dataclass(slots=True)
class Write:
    """An incoming upsert: each field with its own stamp."""

    client_id: str
    base_version: int
    fields: Mapping[str, tuple[Any, Stamp]]


@dataclass(slots=True)
class FieldConflict:
    field: str
    server_value: Any
    client_value: Any
    server_clock: FieldClock
    client_won: bool


@dataclass(slots=True)
class MergeResult:
    state: RowState
    applied: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()
    delete_conflict: bool = False
    created: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.applied) or self.created

    @property
    def outcome(self) -> Outcome:
        if self.conflicts or self.delete_conflict:
            return Outcome.CONFLICT
        if not self.changed:
            return Outcome.SUPERSEDED
        if self.state.deleted is not None and "_deleted" not in self.applied:
            return Outcome.SUPERSEDED  # fields merged under a tombstone stay hidden
        return Outcome.APPLIED


def _concurrent(clock: FieldClock | None, client_id: str, base_version: int) -> bool:
    return clock is not None and clock.version > base_version and clock.client_id != client_id


def merge_upsert(
    current: RowState | None,
    write: Write,
    version: int,
    guarded: frozenset[str] = frozenset(),
) -> MergeResult:
    """Merge `write` into `current` (None: the row does not exist yet).

    `version` is the tenant version the change gets if anything applies;
    `guarded` names the fields whose concurrent edits open a conflict.
    """
    deleted = None if current is None else current.deleted
    values = {} if current is None else dict(current.values)
    clocks = {} if current is None else dict(current.clocks)
    applied: list[str] = []
    superseded: list[str] = []
    conflicts: list[FieldConflict] = []
    client_id, base_version, fields = write.client_id, write.base_version, write.fields
    # The fields of one write mostly share one stamp: one clock for them all.
    made: dict[int, FieldClock] = {}
    for name in sorted(fields):
        value, stamp = fields[name]
        clock = clocks.get(name)
        if clock is None:
            wins = True
        else:
            wins = stamp > clock.stamp
            if (
                name in guarded
                and stamp != clock.stamp
                and _concurrent(clock, client_id, base_version)
                and values.get(name) != value
            ):
                conflicts.append(FieldConflict(name, values.get(name), value, clock, wins))
        if wins:
            values[name] = value
            made_clock = made.get(id(stamp))
            if made_clock is None or made_clock.stamp is not stamp:
                made_clock = made[id(stamp)] = FieldClock(stamp, version, client_id)
            clocks[name] = made_clock
            applied.append(name)
        else:
            superseded.append(name)
    delete_conflict = (
        deleted is not None and bool(applied) and _concurrent(deleted, client_id, base_version)
    )
    return MergeResult(
        RowState(values, clocks, deleted),
        tuple(applied),
        tuple(superseded),
        tuple(conflicts),
        delete_conflict,
        current is None,
    )


def merge_delete(
    current: RowState | None, stamp: Stamp, client_id: str, base_version: int, version: int
) -> MergeResult:
    """Tombstone the row. A delete stands even against a newer concurrent update
    (PROTOCOL.md); that case is reported as a conflict for the inbox."""
    state = current or RowState()
    if state.deleted is not None and stamp <= state.deleted.stamp:
        return MergeResult(state, superseded=("_deleted",))
    concurrent = any(_concurrent(clock, client_id, base_version) for clock in state.clocks.values())
    tombstone = FieldClock(stamp, version, client_id)
    if state.deleted is not None:  # a later delete of a deleted row: keep the newest stamp
        return MergeResult(replace(state, deleted=tombstone), applied=("_deleted",))
    return MergeResult(
        replace(state, deleted=tombstone),
        applied=("_deleted",),
        delete_conflict=concurrent,
        created=current is None,
    )
