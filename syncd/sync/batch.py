"""The working state of one unit of change: rows as they change, what to write.

A `Batch` holds the rows its changes read and wrote (`rows`, by entity and
id; None for a row that does not exist), the rows to write (`dirty`), the
change-log entries and conflicts to append, the Yjs updates to store, the
scope of the user it writes for, the tenant version as it advances, and one
server time for everything it writes, and the push it applies (its answer and
the device's counts, kept as the unit commits). Only the unit of change
(syncd/sync/unit.py) writes it to the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage import sync_store as store
from storage.models import Conflict
from storage.sync_ledger import PushRecord
from storage.types import utcnow
from syncd.auth.principal import Principal
from syncd.sync.scope import Scope

Key = tuple[str, uuid.UUID]


def format_job_number(number: int) -> str:
    return f"JOB-{number:06d}"


@dataclass
class Batch:
    who: Principal
    client_id: str
    version: int
    scope: Scope
    rows: dict[Key, dict[str, Any] | None] = field(default_factory=dict)
    dirty: dict[Key, dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    ydoc_updates: list[tuple[str, bytes]] = field(default_factory=list)
    now: datetime = field(default_factory=utcnow)
    job_number: int = 0  # the tenant's last job number, as locked
    job_number_given: int | None = None  # the last one this batch gave, if any
    push: PushRecord | None = None  # the device's push this batch applies, if it is one

    def next_version(self) -> int:
        self.version += 1
        return self.version

    def next_job_number(self) -> str:
        """A new task's human number, `JOB-000123` (the tenant's counter is locked)."""
        self.job_number += 1
        self.job_number_given = self.job_number
        return format_job_number(self.job_number)

    def row(self, entity: str, row_id: uuid.UUID) -> dict[str, Any] | None:
        return self.rows.get((entity, row_id))

    def stage(self, entity: str, row_id: uuid.UUID, row: dict[str, Any]) -> None:
        """The row as it now stands, to be written with the batch."""
        key = (entity, row_id)
        self.rows[key] = row
        self.dirty[key] = row

    def record(
        self,
        entity: str,
        row_id: uuid.UUID,
        op: str,
        row: dict[str, Any],
        task_id: uuid.UUID | None,
        hlc: str | None,
    ) -> None:
        """A change-log entry for the row as staged, at its version."""
        self.log.append(
            {
                "version": row["version"],
                "entity": entity,
                "entity_id": row_id,
                "op": op,
                "data": store.row_json(entity, row),  # the JSON text, written once
                "task_id": task_id,
                "assignee_id": row["user_id"] if entity == "task_assignment" else None,
                "hlc": hlc,
                "client_id": self.client_id,
                "user_id": self.who.user_id,
            }
        )
