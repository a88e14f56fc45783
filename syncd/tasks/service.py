"""Tasks over REST: reading with filters, and writing through the sync service.

Reads go to the tables in a tenant-bound unit of work; writes become one change
each (syncd.sync.writes), so a dashboard edit reaches devices like a device's
edit reaches the dashboard. Technicians see and act on the tasks assigned to
them only; a task out of their scope reads as not found. A precondition
(`If-Match`, `updated_at`, the lifecycle's state machine, idempotent creation)
is checked under the tenant's version lock, so nothing can slip in between the
check and the write.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.changes import Op
from protocol.entities import Geo
from protocol.lifecycle import (
    InvalidTransition,
    TaskAction,
    TaskStatus,
    allowed_actions,
    next_status,
)
from storage import sync_store as store
from storage.models import Task, TaskAssignment, TaskEvent, User
from storage.report_store import happened
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.refusals import InvalidTransitionProblem, refused_action
from syncd.sync.rest_entities import Refusals, RestEntities, RestEntity, load_visible
from syncd.sync.scope import Scope
from syncd.sync.writes import RestWrites
from syncd.tasks.listing import TaskFilter as TaskFilter  # the console's import
from syncd.tasks.listing import after, conditions, order
from syncd.web.cursors import encode_cursor
from syncd.web.problems import Conflict, NotFound, PreconditionFailed, ValidationFailed

TIMELINE_LIMIT = 5_000


class TaskNotFound(NotFound):
    code = "task_not_found"
    title = "No such task"


class TaskExists(Conflict):
    code = "task_exists"
    title = "A different task already has this id"


class StaleTask(PreconditionFailed):
    code = "stale_task"
    title = "The task changed since you read it"


class StaleUpdatedAt(Conflict):
    code = "stale_task"
    title = "The task changed since you read it"


class NotAssigned(Conflict):
    code = "not_assigned"
    title = "The user is not assigned to this task"


class NothingToChange(ValidationFailed):
    code = "nothing_to_change"
    title = "The request changes nothing"


def _missing(task_id: object) -> NotFound:
    return TaskNotFound(Msg("no task {task_id}", task_id=task_id))


TASK = RestEntity(
    "task",
    Refusals(
        missing=_missing,
        deleted=lambda task_id: TaskExists(
            Msg("task {task_id} was deleted; a new task needs a new id", task_id=task_id)
        ),
        taken=lambda task_id, current: TaskExists(
            Msg("task {task_id} already exists with other values", task_id=task_id),
            extra={"current": current},
        ),
        stale=lambda current, tag: StaleTask(
            Msg("the task changed since you read it; the current task is attached"),
            extra={"current": current},
            headers={"ETag": tag},
        ),
        stale_updated_at=lambda current: StaleUpdatedAt(
            Msg(
                "the task changed since you read it (updated_at differs); "
                "the current task is attached"
            ),
            extra={"current": current},
        ),
    ),
    shown=lambda row: task_read(row, []),
)


class TaskService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], writes: RestWrites) -> None:
        self.sessions = sessions
        self.writes = writes
        self.rows = RestEntities(sessions, writes)

    # --- reading -----------------------------------------------------------------

    async def page(
        self, who: Principal, filters: TaskFilter, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of tasks in the filter's order, and the next page's cursor."""
        statement = select(Task.__table__).limit(limit + 1)
        statement = statement.where(*conditions(filters)).order_by(*order(filters.sort))
        if cursor is not None:
            statement = statement.where(after(filters.sort, cursor))
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            scope = await Scope.load(uow.session, who)
            statement = statement.where(scope.where(Task.id))
            rows = [dict(r) for r in (await uow.session.execute(statement)).mappings()]
            tasks = await self._shaped(uow.session, rows[:limit])
        if len(rows) <= limit:
            return tasks, None
        last = rows[limit - 1]
        key = last[filters.sort.lstrip("-")]
        return tasks, encode_cursor(
            "" if key is None else (key.isoformat() if isinstance(key, datetime) else key),
            last["id"],
        )

    async def get(self, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            row = await load_visible(uow.session, who, TASK, task_id)
            (task,) = await self._shaped(uow.session, [row])
        return dict(task)

    async def timeline(self, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
        """Every timeline entry of the task, in the order things happened.

        The order is the device's clock where there is one (an action made
        offline at 08:00 and pushed at noon sits at 08:00), else the server's,
        then the order the entries arrived in (`storage.report_store.happened`).
        """
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            await load_visible(uow.session, who, TASK, task_id)
            events = (
                await uow.session.execute(
                    select(TaskEvent, User.display_name, User.email)
                    .outerjoin(
                        User,
                        and_(User.tenant_id == TaskEvent.tenant_id, User.id == TaskEvent.actor_id),
                    )
                    .where(TaskEvent.task_id == task_id)
                    .order_by(TaskEvent.server_time, TaskEvent.version)
                    .limit(TIMELINE_LIMIT + 1)
                )
            ).all()
            # Entries of one batch share a server time: their versions keep their order.
            kept = sorted(events[:TIMELINE_LIMIT], key=lambda found: happened(found[0]))
            items = [_timeline_item(event, name, email) for event, name, email in kept]
        truncated = len(events) > TIMELINE_LIMIT
        return {"task_id": str(task_id), "items": items, "truncated": truncated}

    async def _shaped(
        self, session: AsyncSession, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Tasks as REST answers them (`rows`: column values or JSON), with assignees."""
        ids = [uuid.UUID(str(row["id"])) for row in rows]
        assignees: dict[str, list[str]] = {}
        if ids:
            found = await session.execute(
                select(TaskAssignment.task_id, TaskAssignment.user_id)
                .where(
                    TaskAssignment.task_id.in_(ids),
                    TaskAssignment.active.is_(True),
                    TaskAssignment.deleted_at.is_(None),
                )
                .order_by(TaskAssignment.created_at, TaskAssignment.user_id)
            )
            for task_id, user_id in found.all():
                assignees.setdefault(str(task_id), []).append(str(user_id))
        return [task_read(row, assignees.get(str(row["id"]), [])) for row in rows]

    # --- writing -----------------------------------------------------------------

    async def create(
        self, who: Principal, task_id: uuid.UUID, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create the task; re-posting the same id and body answers the stored one.

        Answers (task, created).
        """
        _, created = await self.rows.create(who, TASK, task_id, fields)
        return await self.get(who, task_id), created

    async def update(
        self,
        who: Principal,
        task_id: uuid.UUID,
        fields: dict[str, Any],
        *,
        if_match: str | None,
        updated_at: datetime | None,
    ) -> dict[str, Any]:
        if not fields:
            raise NothingToChange(Msg("name at least one field to change"))
        fresh = self.rows.fresh(who, TASK, task_id, if_match, updated_at)
        await self.writes.write(who, "task", task_id, Op.UPSERT, fields=fields, check=fresh)
        return await self.get(who, task_id)

    async def delete(self, who: Principal, task_id: uuid.UUID, *, if_match: str | None) -> None:
        fresh = self.rows.fresh(who, TASK, task_id, if_match, None)
        await self.writes.write(who, "task", task_id, Op.DELETE, check=fresh)

    async def act(
        self,
        who: Principal,
        task_id: uuid.UUID,
        action: TaskAction,
        *,
        client_time: datetime | None = None,
        geo: Geo | None = None,
        reason: str | None = None,
        user_id: uuid.UUID | None = None,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """A lifecycle action (or assign/unassign), refused with 409 if the state forbids it."""
        fresh = self.rows.fresh(who, TASK, task_id, if_match, None)

        async def check(session: AsyncSession, current: dict[str, Any] | None) -> None:
            await fresh(session, current)
            assert current is not None
            status = TaskStatus(current["status"])
            if action is TaskAction.UNASSIGN:
                assigned = await session.scalar(
                    select(TaskAssignment.id).where(
                        TaskAssignment.task_id == task_id,
                        TaskAssignment.user_id == user_id,
                        TaskAssignment.active.is_(True),
                    )
                )
                if assigned is None:
                    raise NotAssigned(
                        Msg(
                            "user {user_id} is not assigned to task {task_id}",
                            user_id=user_id,
                            task_id=task_id,
                        )
                    )
            try:
                next_status(status, action)
            except InvalidTransition as exc:
                raise InvalidTransitionProblem(
                    refused_action(exc),
                    extra={
                        "task_status": exc.status.value,
                        "allowed_actions": [a.value for a in exc.allowed],
                    },
                ) from None

        await self.writes.write(
            who,
            "task",
            task_id,
            Op.ACTION,
            action=action.value,
            fields={"user_id": str(user_id)} if user_id is not None else {},
            client_time=client_time,
            geo=geo,
            reason=reason,
            check=check,
        )
        return await self.get(who, task_id)


def task_read(row: dict[str, Any], assignees: list[str]) -> dict[str, Any]:
    """A task as REST answers it (`row`: column values or the JSON of the row)."""
    data = store.row_to_json("task", row) if "tenant_id" in row else dict(row)
    status = TaskStatus(data["status"])
    return {
        "id": data["id"],
        "job_number": data.get("job_number"),
        "title": data["title"],
        "description": data["description"],
        "status": status.value,
        "priority": data["priority"],
        "due_at": data["due_at"],
        "location": data["location"] or {},
        "scheduled_start": data.get("scheduled_start"),
        "scheduled_end": data.get("scheduled_end"),
        "assignees": assignees,
        "allowed_actions": [a.value for a in allowed_actions(status)],
        "version": data["version"],
        "created_by": data["created_by"],
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
        "deleted_at": data["deleted_at"],
    }


def _timeline_item(event: TaskEvent, name: str | None, email: str | None) -> dict[str, Any]:
    geo = None
    if event.lat is not None and event.lng is not None:
        geo = {"lat": event.lat, "lng": event.lng, "accuracy_m": event.accuracy_m}
    return {
        "id": str(event.id),
        "kind": event.kind,
        "refused": event.refused,
        "actor": None
        if event.actor_id is None
        else {"id": str(event.actor_id), "display_name": name or "", "email": email},
        "device": event.client_id,
        "client_time": _iso(event.client_time),
        "server_time": _iso(event.server_time),
        "geo": geo,
        "payload": event.payload or {},
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
