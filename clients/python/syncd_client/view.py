"""What the user sees offline: the pulled row with the device's own changes on top.

The replica keeps the server's rows as pulled; the device's own changes (those
applied but not yet pulled back, then those still queued) are overlaid when
read, in the order they were made: an upsert sets its fields, a delete
hides the row, a task action moves the status as the server would (a
transition the task's status does not allow leaves it as it is; the server
will refuse it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from protocol.lifecycle import InvalidTransition, TaskAction, TaskStatus, next_status


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
