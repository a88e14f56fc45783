"""Conflict rows for the admins' inbox: concurrent edits, delete against update,
stale actions. Each is staged in the batch of the change that opened it."""

from __future__ import annotations

import uuid
from typing import Any

from protocol.changes import Change
from protocol.lifecycle import InvalidTransition, TaskAction
from protocol.merge import MergeResult
from storage.models import Conflict
from syncd.sync.batch import Batch


def open_edit_conflict(
    batch: Batch, entity: str, change: Change, current: dict[str, Any] | None, result: MergeResult
) -> uuid.UUID:
    """A `concurrent_edit` (guarded fields) or `delete_update` conflict of `change`."""
    conflict_id = uuid.uuid4()
    server_clock = result.conflicts[0].server_clock if result.conflicts else None
    deleted = (current or {}).get("field_clocks", {}).get("_deleted")
    batch.conflicts.append(
        Conflict(
            id=conflict_id,
            entity=entity,
            entity_id=change.id,
            kind="delete_update" if result.delete_conflict else "concurrent_edit",
            fields=[c.field for c in result.conflicts] or ["_deleted"],
            server={c.field: c.server_value for c in result.conflicts},
            client={c.field: c.client_value for c in result.conflicts}
            if result.conflicts
            else {"op": change.op.value, "fields": change.fields},
            base_version=change.base_version,
            server_version=server_clock.version if server_clock else (deleted or {}).get("v"),
            client_id=batch.client_id,
            user_id=batch.who.user_id,
            server_client_id=server_clock.client_id if server_clock else (deleted or {}).get("by"),
        )
    )
    return conflict_id


def open_stale_action(
    batch: Batch,
    change: Change,
    task: dict[str, Any],
    action: TaskAction,
    exc: InvalidTransition,
) -> uuid.UUID:
    """A `stale_action` conflict: an action the task's status no longer allows."""
    conflict_id = uuid.uuid4()
    status_clock = task["field_clocks"].get("status") or {}
    batch.conflicts.append(
        Conflict(
            id=conflict_id,
            entity="task",
            entity_id=change.id,
            kind="stale_action",
            fields=["status"],
            server={"status": exc.status.value},
            client={
                "action": action.value,
                "client_time": change.client_time.isoformat() if change.client_time else None,
            },
            base_version=change.base_version,
            server_version=status_clock.get("v"),
            client_id=batch.client_id,
            user_id=batch.who.user_id,
            server_client_id=status_clock.get("by"),
        )
    )
    return conflict_id
