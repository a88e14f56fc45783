"""What the server should hold after a fleet simulation, worked out from the clients' side.

Every device keeps every answered change (`LocalStore(keep_history=True)`):
what it sent (fields, HLC stamp, base_version) and what the server said
(status, version, the batch's cursor). Replaying those changes in the order
the server took them gives, by the protocol's rules alone:

- the expected conflicts: an upsert of a guarded field is concurrent when the
  value standing for that field (the last-writer-wins winner so far) was set
  by another client at a version newer than the change's `base_version` and
  differs from the incoming value (docs/protocol.md, Merge rules); a delete
  is concurrent with any field another client set after its base, and an
  upsert that changes a field of a row another client deleted after its base
  is concurrent with that delete; an action answered `conflict` is a stale
  action (the oracle takes the server's word on the lifecycle and counts its
  `action_refused` entry);
- the expected value of every field: the one with the greatest stamp among
  all answered writes (last writer wins, by HLC), for rows not deleted;
- the rows and timeline events that must exist, and the action events that
  must appear once each.

The server's order is the batches' order: a batch's cursor is the tenant
version right after it (batches are serialised by the tenant's version lock),
and a batch that applied nothing sits after the batch that made that version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from protocol.entities import ENTITIES
from protocol.hlc import Stamp
from syncd.sync.cursor import Cursor
from syncd_client.store import Acknowledged

ACTION_EVENT = {
    "assign": "assigned",
    "unassign": "unassigned",
    "start": "started",
    "pause": "paused",
    "resume": "resumed",
    "complete": "completed",
    "reopen": "reopened",
}


@dataclass(frozen=True, slots=True)
class Sent:
    client_id: str
    ack: Acknowledged

    @property
    def change(self) -> dict[str, Any]:
        return self.ack.change

    @property
    def key(self) -> tuple[str, str]:
        return self.change["entity"], self.change["id"]


@dataclass(slots=True)
class Winner:
    stamp: Stamp
    value: Any
    client_id: str
    version: int


@dataclass(slots=True)
class Expectation:
    conflicts: int = 0
    conflict_mismatches: list[str] = field(default_factory=list)
    fields: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    created: set[tuple[str, str]] = field(default_factory=set)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    action_events: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: int = 0


def server_order(histories: dict[str, list[Acknowledged]]) -> list[Sent]:
    """Every answered change, in the order the server applied them."""
    batches: dict[tuple[str, str], list[Acknowledged]] = {}
    for client_id, acks in histories.items():
        for ack in acks:
            batches.setdefault((client_id, ack.batch_id), []).append(ack)

    def position(item: tuple[tuple[str, str], list[Acknowledged]]) -> tuple[int, int, str, str]:
        (client_id, batch_id), acks = item
        cursor = Cursor.decode(acks[0].cursor)
        assert cursor is not None
        made_versions = any(a.result.version is not None for a in acks)
        return cursor.version, 0 if made_versions else 1, client_id, batch_id

    ordered: list[Sent] = []
    for (client_id, _), acks in sorted(batches.items(), key=position):
        ordered.extend(Sent(client_id, a) for a in sorted(acks, key=lambda a: a.position))
    return ordered


def expect(histories: dict[str, list[Acknowledged]]) -> Expectation:
    """Replay every answered change by the protocol's rules."""
    expectation = Expectation()
    winners: dict[tuple[str, str, str], Winner] = {}
    tombstones: dict[tuple[str, str], Winner] = {}
    for sent in server_order(histories):
        change, result = sent.change, sent.ack.result
        if result.status == "rejected":
            expectation.rejected += 1
            continue
        if change["op"] == "action":
            if result.status == "applied":
                expectation.action_events[(sent.client_id, ACTION_EVENT[change["action"]])] += 1
            elif result.status == "conflict":  # a stale action, kept as refused
                expectation.action_events[(sent.client_id, "action_refused")] += 1
                expectation.conflicts += 1
            continue
        if change["op"] == "delete":
            concurrent = _replay_delete(sent, winners, tombstones)
        elif change["op"] == "upsert":
            if result.version is not None:
                expectation.created.add(sent.key)  # an upsert that applied: the row exists
            concurrent = _replay_upsert(sent, winners, tombstones)
        else:
            continue
        expectation.conflicts += concurrent
        if concurrent != (result.status == "conflict"):
            expectation.conflict_mismatches.append(
                f"{sent.client_id} {change['op']} {change['entity']} {change['id']} "
                f"{change.get('fields')} base {change['base_version']}: expected "
                f"{'conflict' if concurrent else 'no conflict'}, answered {result.status}"
            )
    expectation.deleted = set(tombstones)
    expectation.fields = {
        key: w.value for key, w in winners.items() if (key[0], key[1]) not in tombstones
    }
    return expectation


def _concurrent(standing: Winner | None, sent: Sent) -> bool:
    return (
        standing is not None
        and standing.client_id != sent.client_id
        and standing.version > sent.change["base_version"]
    )


def _replay_delete(
    sent: Sent,
    winners: dict[tuple[str, str, str], Winner],
    tombstones: dict[tuple[str, str], Winner],
) -> bool:
    stamp = Stamp.parse(sent.change["hlc"])
    standing = tombstones.get(sent.key)
    if standing is not None and stamp <= standing.stamp:
        return False  # superseded by the tombstone that stands
    version = sent.ack.result.version
    assert version is not None, f"a delete that applied without a version: {sent.change}"
    tombstones[sent.key] = Winner(stamp, None, sent.client_id, version)
    if standing is not None:
        return False  # a later delete of a deleted row
    entity, row_id = sent.key
    return any(
        _concurrent(winner, sent)
        for (e, r, _), winner in winners.items()
        if (e, r) == (entity, row_id)
    )


def _replay_upsert(
    sent: Sent,
    winners: dict[tuple[str, str, str], Winner],
    tombstones: dict[tuple[str, str], Winner],
) -> bool:
    change, result = sent.change, sent.ack.result
    entity, row_id = sent.key
    guarded = ENTITIES[entity].guarded
    stamp = Stamp.parse(change["hlc"])
    concurrent = False
    applied = False
    for name, value in change["fields"].items():
        standing = winners.get((entity, row_id, name))
        if (
            name in guarded
            and standing is not None
            and standing.stamp != stamp
            and _concurrent(standing, sent)
            and standing.value != value
        ):
            concurrent = True
        if standing is None or stamp > standing.stamp:
            assert result.version is not None, f"a winning write without a version: {change}"
            winners[(entity, row_id, name)] = Winner(stamp, value, sent.client_id, result.version)
            applied = True
    return concurrent or (applied and _concurrent(tombstones.get(sent.key), sent))


def lost_fields(
    expectation: Expectation, server: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """Fields whose server value is not the last writer's (an acknowledged write lost)."""
    lost = []
    for (entity, row_id, name), value in expectation.fields.items():
        row = server.get((entity, row_id))
        if row is None or row.get(name) != value:
            held = None if row is None else row.get(name)
            lost.append(f"{entity} {row_id} {name}: expected {value!r}, server has {held!r}")
    return lost


def lost_rows(expectation: Expectation, server: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    missing = expectation.created - expectation.deleted - server.keys()
    kept = expectation.deleted & server.keys()  # deleted, yet served
    return [f"{entity} {row_id}" for entity, row_id in missing] + [
        f"{entity} {row_id} (deleted)" for entity, row_id in kept
    ]


def action_event_counts(server: dict[tuple[str, str], dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Timeline events the server made for actions, by (device, kind)."""
    kinds = set(ACTION_EVENT.values()) | {"action_refused"}
    return Counter(
        (str(row.get("client_id")), str(row["kind"]))
        for (entity, _), row in server.items()
        if entity == "task_event" and row.get("kind") in kinds
    )
