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
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, func, or_, select
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
from syncd.sync.scope import Scope
from syncd.sync.writes import Check, RestWrites
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict, NotFound, PreconditionFailed, ValidationFailed

TIMELINE_LIMIT = 5_000
SORTS = ("created_at", "updated_at", "due_at", "title")
Sort = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "due_at", "-due_at", "title", "-title"
]


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


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: tuple[TaskStatus, ...] = ()
    assignee: uuid.UUID | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    q: str | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False
    sort: Sort = "created_at"


class _AlreadyThere(Exception):
    """Creation found the same task already stored (an idempotent re-post)."""


def etag(task: dict[str, Any]) -> str:
    """The task's entity tag: its version in the tenant's change log."""
    return f'"{task["version"]}"'


def if_match_holds(if_match: str | None, current: str) -> bool:
    if if_match is None:
        return True
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return "*" in tags or current in tags


class TaskService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], writes: RestWrites) -> None:
        self.sessions = sessions
        self.writes = writes

    # --- reading -----------------------------------------------------------------

    async def page(
        self, who: Principal, filters: TaskFilter, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of tasks in the filter's order, and the next page's cursor."""
        column, descending = _sort(filters.sort)
        statement = select(Task.__table__).limit(limit + 1)
        statement = statement.where(*_conditions(filters))
        order = column.desc() if descending else column.asc()
        tie = Task.id.desc() if descending else Task.id.asc()
        if filters.sort.lstrip("-") == "due_at":  # tasks without a due date come last
            statement = statement.order_by(Task.due_at.is_(None), order, tie)
        else:
            statement = statement.order_by(order, tie)
        if cursor is not None:
            statement = statement.where(_after(filters.sort, cursor))
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
            row = await _visible_row(uow.session, who, task_id)
            (task,) = await self._shaped(uow.session, [row])
        return dict(task)

    async def timeline(self, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
        """Every timeline entry of the task, in the order things happened.

        The order is the device's clock where there is one (an action made
        offline at 08:00 and pushed at noon sits at 08:00), else the server's,
        then the order the entries arrived in (`storage.report_store.happened`).
        """
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            await _visible_row(uow.session, who, task_id)
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
        ids = [row["id"] for row in rows]
        assignees: dict[uuid.UUID, list[str]] = {}
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
                assignees.setdefault(task_id, []).append(str(user_id))
        return [task_read(row, assignees.get(row["id"], [])) for row in rows]

    # --- writing -----------------------------------------------------------------

    async def create(
        self, who: Principal, task_id: uuid.UUID, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Create the task; re-posting the same id and body answers the stored one.

        Answers (task, created).
        """

        async def check(session: AsyncSession, current: dict[str, Any] | None) -> None:
            if current is None:
                return
            if current["deleted_at"] is None and all(
                current.get(name) == value for name, value in fields.items()
            ):
                raise _AlreadyThere
            if current["deleted_at"] is not None:
                raise TaskExists(
                    Msg("task {task_id} was deleted; a new task needs a new id", task_id=task_id)
                )
            raise TaskExists(
                Msg("task {task_id} already exists with other values", task_id=task_id),
                extra={"current": task_read(current, [])},
            )

        try:
            await self.writes.write(who, "task", task_id, Op.UPSERT, fields=fields, check=check)
        except _AlreadyThere:
            return await self.get(who, task_id), False
        return await self.get(who, task_id), True

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
        await self.writes.write(
            who,
            "task",
            task_id,
            Op.UPSERT,
            fields=fields,
            check=self._fresh(who, task_id, if_match, updated_at),
        )
        return await self.get(who, task_id)

    async def delete(self, who: Principal, task_id: uuid.UUID, *, if_match: str | None) -> None:
        await self.writes.write(
            who, "task", task_id, Op.DELETE, check=self._fresh(who, task_id, if_match, None)
        )

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
        fresh = self._fresh(who, task_id, if_match, None)

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

    def _fresh(
        self,
        who: Principal,
        task_id: uuid.UUID,
        if_match: str | None,
        updated_at: datetime | None,
    ) -> Check:
        """The check that the task is visible to `who` and unchanged since it was read."""

        async def check(session: AsyncSession, current: dict[str, Any] | None) -> None:
            if current is None or current["deleted_at"] is not None:
                raise TaskNotFound(Msg("no task {task_id}", task_id=task_id))
            if not (await Scope.load(session, who)).sees_task(task_id):
                raise TaskNotFound(Msg("no task {task_id}", task_id=task_id))
            shown = task_read(current, [])
            if not if_match_holds(if_match, etag(current)):
                raise StaleTask(
                    Msg("the task changed since you read it; the current task is attached"),
                    extra={"current": shown},
                    headers={"ETag": etag(current)},
                )
            if updated_at is not None and _instant(current["updated_at"]) != updated_at:
                raise StaleUpdatedAt(
                    Msg(
                        "the task changed since you read it (updated_at differs); "
                        "the current task is attached"
                    ),
                    extra={"current": shown},
                )

        return check


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


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


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


def _sort(sort: str) -> tuple[Any, bool]:
    name = sort.lstrip("-")
    if name not in SORTS:  # pragma: no cover - the query model allows only SORTS
        raise ValueError(sort)
    return getattr(Task, name), sort.startswith("-")


def _conditions(filters: TaskFilter) -> list[Any]:
    conditions: list[Any] = []
    if not filters.include_deleted:
        conditions.append(Task.deleted_at.is_(None))
    if filters.status:
        conditions.append(Task.status.in_([s.value for s in filters.status]))
    if filters.assignee is not None:
        conditions.append(_assigned_to(filters.assignee))
    if filters.due_from is not None:
        conditions.append(Task.due_at >= filters.due_from)
    if filters.due_to is not None:
        conditions.append(Task.due_at < filters.due_to)
    if filters.updated_since is not None:
        conditions.append(Task.updated_at >= filters.updated_since)
    if filters.q:
        needle = filters.q.lower()
        conditions.append(
            or_(
                func.lower(Task.title).contains(needle, autoescape=True),
                func.lower(Task.description).contains(needle, autoescape=True),
            )
        )
    return conditions


def _assigned_to(user_id: uuid.UUID) -> Any:
    return exists().where(
        TaskAssignment.tenant_id == Task.tenant_id,
        TaskAssignment.task_id == Task.id,
        TaskAssignment.user_id == user_id,
        TaskAssignment.active.is_(True),
        TaskAssignment.deleted_at.is_(None),
    )


def _after(sort: str, cursor: str) -> Any:
    """The keyset condition "after the cursor's row" in `sort` order."""
    raw_key, raw_id = decode_cursor(cursor, 2)
    name = sort.lstrip("-")
    descending = sort.startswith("-")
    column = getattr(Task, name)
    try:
        last_id = uuid.UUID(str(raw_id))
        key: Any = raw_key
        if name in ("created_at", "updated_at", "due_at") and raw_key != "":
            key = datetime.fromisoformat(str(raw_key))
    except ValueError:
        raise InvalidCursor("the cursor was not made by this server") from None
    id_after = Task.id < last_id if descending else Task.id > last_id
    if name == "due_at":
        if raw_key == "":  # the cursor is among the tasks without a due date (last)
            return and_(Task.due_at.is_(None), id_after)
        beyond = Task.due_at < key if descending else Task.due_at > key
        return or_(
            Task.due_at.is_(None),
            beyond,
            and_(Task.due_at == key, id_after),
        )
    beyond = column < key if descending else column > key
    return or_(beyond, and_(column == key, id_after))


async def _visible_row(session: AsyncSession, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
    row = (
        (await session.execute(select(Task.__table__).where(Task.id == task_id))).mappings().first()
    )
    if row is None or row["deleted_at"] is not None:
        raise TaskNotFound(Msg("no task {task_id}", task_id=task_id))
    if not (await Scope.load(session, who)).sees_task(task_id):
        raise TaskNotFound(Msg("no task {task_id}", task_id=task_id))
    return dict(row)
