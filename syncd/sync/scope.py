"""What a user may see of the tenant's synced rows: the one scope rule.

Admins and staff see every row of their tenant. A technician sees the tasks
assigned to them and every row that hangs off those tasks (the entity
registry's `hangs_off`: protocol/entities.py). A `Scope` is loaded once per
unit of work or per socket and asked by everything that serves or takes
synced rows: push, pull, the live feed, the REST features, media, reports
and the Yjs endpoint. Each caller turns a "no" into its own answer (a
rejected change, a 404 that does not tell the task exists, a close code).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import true
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.roles import Role
from storage import log_reads
from syncd.auth.principal import Principal


@dataclass(slots=True)
class Scope:
    user_id: uuid.UUID
    tasks: set[uuid.UUID] | None  # None: every task of the tenant

    @classmethod
    def whole_tenant(cls, user_id: uuid.UUID) -> Scope:
        return cls(user_id, None)

    @classmethod
    async def load(cls, session: AsyncSession, who: Principal) -> Scope:
        """The scope of `who`, read in `session` (a tenant unit of work)."""
        if who.role is not Role.TECHNICIAN:
            return cls.whole_tenant(who.user_id)
        return cls(who.user_id, await log_reads.assigned_task_ids(session, who.user_id))

    @property
    def is_whole_tenant(self) -> bool:
        return self.tasks is None

    def sees_task(self, task_id: uuid.UUID | None) -> bool:
        """Whether the rows of this task are visible (a row of no task: only to the
        whole tenant's readers)."""
        if self.tasks is None:
            return True
        return task_id is not None and task_id in self.tasks

    def where(self, task_column: Any) -> Any:
        """A SQL condition: the row's task (`task_column`) is in this scope."""
        return true() if self.tasks is None else task_column.in_(self.tasks)

    def assigned(self, task_id: uuid.UUID, active: bool) -> None:
        """Follow an assignment of this scope's user (made in this unit, or seen live)."""
        if self.tasks is not None:
            (self.tasks.add if active else self.tasks.discard)(task_id)
