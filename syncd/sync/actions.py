"""Lifecycle actions on tasks: start, pause, complete, assign, unassign, reopen...

An action moves the task's status by protocol/lifecycle.py, stamps the
status field, and adds its timeline entry; assign and unassign also write the
assignment row (and move the acting technician's scope within the batch). An
action the status does not allow is never applied: from a device that had
not seen the status it acted on, it is kept as a refused entry and opens a
`stale_action` conflict; from one that had, it is rejected
(`invalid_transition`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from protocol.changes import Change
from protocol.entities import EntitySpec
from protocol.lifecycle import (
    ACTION_EVENTS,
    REFUSED_EVENT,
    TECHNICIAN_ACTIONS,
    InvalidTransition,
    TaskAction,
    TaskStatus,
    next_status,
    settle,
)
from protocol.merge import Outcome
from protocol.roles import Role
from storage import sync_store as store
from storage.models import TaskAssignment, User
from syncd.i18n import Msg
from syncd.sync import timeline
from syncd.sync.batch import Batch
from syncd.sync.conflicts import open_stale_action
from syncd.sync.fields import authorise
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.refusals import (
    InvalidAssignee,
    InvalidTransitionProblem,
    UnknownAction,
    UnsupportedOp,
    forbidden,
    invalid,
    not_found,
    refused_action,
)
from syncd.sync.unit import UnitOfChange


async def act(unit: UnitOfChange, spec: EntitySpec, change: Change) -> ChangeOutcome:
    batch = unit.batch
    if spec.name != "task":
        raise UnsupportedOp("actions apply to tasks only")
    try:
        action = TaskAction(change.action or "")
    except ValueError:
        raise UnknownAction(
            Msg(
                "no action {action}; known: {known}",
                action=repr(change.action),
                known=", ".join(a.value for a in TaskAction),
            ),
        ) from None
    task = batch.row("task", change.id)
    if task is None or task.get("deleted_at") is not None:
        raise not_found("task", change.id)
    role = batch.who.role
    if role is Role.TECHNICIAN:
        if action not in TECHNICIAN_ACTIONS:
            raise forbidden(Msg("technicians cannot {action}", action=action.value))
        authorise(batch, spec, change.id, creating=False)
    if action is TaskAction.REOPEN and role is not Role.ADMIN:
        raise forbidden("only admins reopen tasks")
    if action is TaskAction.REJECT and not change.reason:
        raise invalid("reject needs a reason", "reason", "missing", "required")
    assignee = await _assignee(unit, change, action)
    status = TaskStatus(task["status"])
    try:
        target = next_status(status, action)
    except InvalidTransition as exc:
        if _saw_status(task, change, batch.client_id):
            # The device knew the status and asked for what it does not allow:
            # its own mistake, not a race another device won.
            detail = refused_action(exc)
            raise InvalidTransitionProblem(
                detail,
                errors=[{"field": "action", "code": "invalid_transition", "message": detail}],
            ) from None
        return _refuse(batch, change, task, action, exc)
    if action in (TaskAction.UNASSIGN, TaskAction.REOPEN):
        # A task at rest is `assigned` while a technician holds it, else `open`.
        leaving = assignee if action is TaskAction.UNASSIGN else None
        target = settle(target, await _others_assigned(unit, change.id, leaving))
    stamp = str(unit.stamp(change))
    clocks = dict(task["field_clocks"])
    status_clock = clocks.get("status")
    if status_clock is None or stamp > status_clock["hlc"]:
        clocks["status"] = {"hlc": stamp, "v": 0, "by": batch.client_id}
    version = batch.next_version()
    clocks["status"] = {**clocks["status"], "v": version}
    row = {
        **task,
        "status": target.value,
        "field_clocks": clocks,
        "version": version,
        "updated_at": batch.now,
    }
    batch.stage("task", change.id, row)
    batch.record("task", change.id, "upsert", row, change.id, change.hlc)
    if assignee is not None:
        await _set_assignment(unit, change, assignee, active=action is TaskAction.ASSIGN)
    timeline.entry_for(
        batch,
        change,
        ACTION_EVENTS[action],
        {
            "action": action.value,
            "from": status.value,
            "to": target.value,
            **({"reason": change.reason} if change.reason else {}),
            **({"user_id": str(assignee)} if assignee else {}),
        },
    )
    return ChangeOutcome(id=str(change.id), status=Outcome.APPLIED, version=batch.version)


def _saw_status(task: dict[str, Any], change: Change, client_id: str) -> bool:
    """Whether the device had seen the task's status when it sent `change`: its
    base_version reaches the status's last change, or that change was its own."""
    clock = (task.get("field_clocks") or {}).get("status") or {}
    seen = change.base_version >= int(clock.get("v", task["version"]))
    return seen or clock.get("by") == client_id


def _refuse(
    batch: Batch, change: Change, task: dict[str, Any], action: TaskAction, exc: InvalidTransition
) -> ChangeOutcome:
    """A stale action: kept in the timeline as refused, and opened as a conflict."""
    timeline.entry_for(
        batch,
        change,
        REFUSED_EVENT,
        {
            "action": action.value,
            "status": exc.status.value,
            "allowed": [a.value for a in exc.allowed],
        },
        refused=True,
    )
    conflict_id = open_stale_action(batch, change, task, action, exc)
    return ChangeOutcome(
        id=str(change.id),
        status=Outcome.CONFLICT,
        conflict_id=conflict_id,
        current=store.row_to_json("task", task),
    )


async def _assignee(unit: UnitOfChange, change: Change, action: TaskAction) -> uuid.UUID | None:
    if action not in (TaskAction.ASSIGN, TaskAction.UNASSIGN):
        return None
    try:
        user_id = uuid.UUID(str(change.fields.get("user_id")))
    except ValueError:
        raise invalid(
            Msg("{action} needs fields.user_id", action=action.value),
            "fields.user_id",
            "missing",
            "a technician's user id",
        ) from None
    user = await unit.session.get(User, (unit.who.tenant_id, user_id))
    if action is TaskAction.ASSIGN and (
        user is None or user.role != Role.TECHNICIAN.value or user.status != "active"
    ):
        raise InvalidAssignee(
            "only active technicians of the tenant are assigned",
            errors=[
                {
                    "field": "fields.user_id",
                    "code": "invalid_assignee",
                    "message": "not an active technician",
                }
            ],
        )
    return user_id


async def _others_assigned(
    unit: UnitOfChange, task_id: uuid.UUID, leaving: uuid.UUID | None
) -> bool:
    """Whether a technician other than `leaving` is assigned (this batch's writes count)."""
    found = await unit.session.execute(
        select(TaskAssignment.id, TaskAssignment.user_id).where(
            TaskAssignment.task_id == task_id,
            TaskAssignment.active.is_(True),
            TaskAssignment.deleted_at.is_(None),
        )
    )
    active = {row_id: user_id for row_id, user_id in found.all()}
    for (entity, row_id), row in unit.batch.rows.items():
        if entity == "task_assignment" and row is not None and row["task_id"] == task_id:
            if row["active"]:
                active[row_id] = row["user_id"]
            else:
                active.pop(row_id, None)
    return any(user_id != leaving for user_id in active.values())


async def _set_assignment(
    unit: UnitOfChange, change: Change, user_id: uuid.UUID, *, active: bool
) -> None:
    batch = unit.batch
    found = await unit.session.execute(
        select(TaskAssignment.__table__).where(
            TaskAssignment.task_id == change.id, TaskAssignment.user_id == user_id
        )
    )
    existing = found.mappings().first()
    row_id = uuid.uuid5(change.id, str(user_id))
    staged = batch.row("task_assignment", existing["id"] if existing else row_id)
    row: dict[str, Any] = dict(
        staged
        or existing
        or {
            "id": row_id,
            "task_id": change.id,
            "user_id": user_id,
            "created_at": batch.now,
            "field_clocks": {},
            "deleted_at": None,
        }
    )
    row.update(
        active=active,
        assigned_by=batch.who.user_id,
        version=batch.next_version(),
        updated_at=batch.now,
    )
    batch.stage("task_assignment", row["id"], row)
    batch.record("task_assignment", row["id"], "upsert", row, change.id, change.hlc)
    if user_id == batch.who.user_id:
        batch.scope.assigned(change.id, active)
