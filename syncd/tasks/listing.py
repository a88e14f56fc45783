"""The task list's query: filters, sort order and keyset pages over the tasks table.

`TaskFilter` is what a caller asks for (plain values); `conditions`, `order`
and `after` turn it into SQL for `TaskService.page`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, func, or_

from protocol.lifecycle import TaskStatus
from storage.models import Task, TaskAssignment
from syncd.web.cursors import InvalidCursor, decode_cursor

SORTS = ("created_at", "updated_at", "due_at", "title")
Sort = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "due_at", "-due_at", "title", "-title"
]


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


def order(sort: str) -> list[Any]:
    """The ORDER BY of `sort` (tasks without a due date come last), ties by id."""
    column, descending = _sort(sort)
    ordered = column.desc() if descending else column.asc()
    tie = Task.id.desc() if descending else Task.id.asc()
    if sort.lstrip("-") == "due_at":
        return [Task.due_at.is_(None), ordered, tie]
    return [ordered, tie]


def _sort(sort: str) -> tuple[Any, bool]:
    name = sort.lstrip("-")
    if name not in SORTS:  # pragma: no cover - the query model allows only SORTS
        raise ValueError(sort)
    return getattr(Task, name), sort.startswith("-")


def conditions(filters: TaskFilter) -> list[Any]:
    found: list[Any] = []
    if not filters.include_deleted:
        found.append(Task.deleted_at.is_(None))
    if filters.status:
        found.append(Task.status.in_([s.value for s in filters.status]))
    if filters.assignee is not None:
        found.append(assigned_to(filters.assignee))
    if filters.due_from is not None:
        found.append(Task.due_at >= filters.due_from)
    if filters.due_to is not None:
        found.append(Task.due_at < filters.due_to)
    if filters.updated_since is not None:
        found.append(Task.updated_at >= filters.updated_since)
    if filters.q:
        needle = filters.q.lower()
        found.append(
            or_(
                func.lower(Task.title).contains(needle, autoescape=True),
                func.lower(Task.description).contains(needle, autoescape=True),
            )
        )
    return found


def assigned_to(user_id: uuid.UUID) -> Any:
    return exists().where(
        TaskAssignment.tenant_id == Task.tenant_id,
        TaskAssignment.task_id == Task.id,
        TaskAssignment.user_id == user_id,
        TaskAssignment.active.is_(True),
        TaskAssignment.deleted_at.is_(None),
    )


def after(sort: str, cursor: str) -> Any:
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
