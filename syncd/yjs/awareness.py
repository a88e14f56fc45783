"""A room's awareness states (who is editing, their cursors), within bounds.

Bounds (docs/protocol.md): a room holds at most AWARENESS_MAX_STATES states of
at most AWARENESS_MAX_STATE_BYTES each, AWARENESS_MAX_ROOM_BYTES in all, and a
socket introduces at most AWARENESS_MAX_CLIENTS_PER_PEER client ids; past any
of them an update is refused with `AwarenessRefused` (close 4413).

y-websocket clients send back the states they heard of others as well as
their own, so a socket owns the client ids it introduced (unknown until then):
those count against its bound, and go when it leaves.
"""

from __future__ import annotations

from protocol.yprotocol import AwarenessEntry

AWARENESS_MAX_STATES = 256
AWARENESS_MAX_STATE_BYTES = 8 * 1024
AWARENESS_MAX_ROOM_BYTES = 256 * 1024
AWARENESS_MAX_CLIENTS_PER_PEER = 8


class AwarenessRefused(ValueError):
    """An awareness update past the room's or the socket's bounds."""


def check(
    states: dict[int, AwarenessEntry], owned: set[int], entries: list[AwarenessEntry]
) -> set[int]:
    """The client ids an update introduces to a room holding `states`, from a socket
    owning `owned`; AwarenessRefused if it passes a bound."""
    if any(len(entry.state) > AWARENESS_MAX_STATE_BYTES for entry in entries):
        raise AwarenessRefused(f"an awareness state over {AWARENESS_MAX_STATE_BYTES} bytes")
    introduced = {e.client_id for e in entries if not e.removed and e.client_id not in states}
    if len(owned | introduced) > AWARENESS_MAX_CLIENTS_PER_PEER:
        raise AwarenessRefused(
            f"more than {AWARENESS_MAX_CLIENTS_PER_PEER} awareness clients on one socket"
        )
    after = dict(states)
    for entry in entries:
        if entry.removed:
            after.pop(entry.client_id, None)
        else:
            after[entry.client_id] = entry
    size = sum(len(entry.state) for entry in after.values())
    if len(after) > AWARENESS_MAX_STATES or size > AWARENESS_MAX_ROOM_BYTES:
        raise AwarenessRefused("the document holds as many awareness states as it may")
    return introduced


def track(states: dict[int, AwarenessEntry], entries: list[AwarenessEntry]) -> None:
    """Remember the newest state of each client in `states`."""
    for entry in entries:
        known = states.get(entry.client_id)
        if entry.removed:
            states.pop(entry.client_id, None)
        elif known is None or entry.clock >= known.clock:
            states[entry.client_id] = entry


def gone(states: dict[int, AwarenessEntry], owned: set[int]) -> list[AwarenessEntry]:
    """The entries telling others that a leaving socket's clients are gone."""
    return [AwarenessEntry(cid, states[cid].clock + 1, "null") for cid in owned if cid in states]
