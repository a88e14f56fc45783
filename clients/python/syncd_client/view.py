"""What the user sees offline: the pulled row with the device's own changes on top.

The replica keeps the server's rows as pulled; the device's own changes (those
applied but not yet pulled back, then those still queued) are overlaid when
read, in the order they were made: an upsert sets its fields, a delete
hides the row, a task action moves the status as the server would (a
transition the task's status does not allow leaves it as it is; the server
will refuse it too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from protocol.lifecycle import InvalidTransition, TaskAction, TaskStatus, next_status

if TYPE_CHECKING:
    from syncd_client.store import LocalStore


def overlay(
    row: dict[str, Any] | None, row_id: str, pending: Iterable[dict[str, Any]]
) -> dict[str, Any] | None:
    """`row` as the device's queued changes (oldest first) would leave it."""
    current = None if row is None else dict(row)
    for change in pending:
        op = change.get("op")
        if op == "upsert":
            current = {**(current or {"id": row_id}), **change.get("fields", {})}
        elif op == "delete":
            current = None
        elif op == "action" and current is not None and "status" in current:
            try:
                status = next_status(TaskStatus(current["status"]), TaskAction(change["action"]))
            except (InvalidTransition, ValueError):
                continue
            current["status"] = status.value
    return current


def seen_row(store: LocalStore, entity: str, row_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The row as the user sees it: as pulled, then the device's applied changes
    no pull has brought back yet, then its queued changes."""
    changes = store.unechoed(entity, row_id) + store.pending(entity, row_id)
    return overlay(store.row(entity, row_id), str(row_id), changes)


def seen_rows(store: LocalStore, entity: str) -> dict[str, dict[str, Any]]:
    """Every row of `entity` as the user sees it, by id."""
    pulled = {row_id: row for (_, row_id), row in store.rows(entity).items()}
    queued: dict[str, list[dict[str, Any]]] = {}
    for change in store.unechoed(entity) + store.pending():
        if change["entity"] == entity:
            queued.setdefault(change["id"], []).append(change)
    seen: dict[str, dict[str, Any]] = {}
    for row_id in pulled.keys() | queued.keys():
        row = overlay(pulled.get(row_id), row_id, queued.get(row_id, []))
        if row is not None:
            seen[row_id] = row
    return seen
