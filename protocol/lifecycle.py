"""The task lifecycle state machine of PROTOCOL.md.

open -> assigned -> in_progress <-> paused -> completed; rejected from open,
assigned, in_progress or paused; an admin may reopen a completed or rejected
task. Actions are verbs, statuses are states; `next_status` is the one rule,
and `settle` tells `open` from `assigned` once the action's effect on the
task's technicians is known: a task that rests (after unassign or reopen) is
`assigned` while a technician holds it, and `open` when none does.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    REJECTED = "rejected"


class TaskAction(StrEnum):
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    REJECT = "reject"
    REOPEN = "reopen"


_S = TaskStatus
_A = TaskAction

TRANSITIONS: dict[tuple[TaskStatus, TaskAction], TaskStatus] = {
    (_S.OPEN, _A.ASSIGN): _S.ASSIGNED,
    (_S.ASSIGNED, _A.ASSIGN): _S.ASSIGNED,
    (_S.ASSIGNED, _A.UNASSIGN): _S.OPEN,
    (_S.ASSIGNED, _A.START): _S.IN_PROGRESS,
    (_S.IN_PROGRESS, _A.PAUSE): _S.PAUSED,
    (_S.PAUSED, _A.RESUME): _S.IN_PROGRESS,
    (_S.IN_PROGRESS, _A.COMPLETE): _S.COMPLETED,
    (_S.OPEN, _A.REJECT): _S.REJECTED,
    (_S.ASSIGNED, _A.REJECT): _S.REJECTED,
    (_S.IN_PROGRESS, _A.REJECT): _S.REJECTED,
    (_S.PAUSED, _A.REJECT): _S.REJECTED,
    (_S.COMPLETED, _A.REOPEN): _S.OPEN,
    (_S.REJECTED, _A.REOPEN): _S.OPEN,
}

ADMIN_ONLY: frozenset[TaskAction] = frozenset({TaskAction.REOPEN})


class InvalidTransition(ValueError):
    """An action that the task's current status does not allow."""

    def __init__(self, status: TaskStatus, action: TaskAction) -> None:
        self.status = status
        self.action = action
        self.allowed = allowed_actions(status)
        allowed = ", ".join(a.value for a in self.allowed) or "none"
        super().__init__(
            f"cannot {action.value} a task that is {status.value} (allowed: {allowed})"
        )


def allowed_actions(status: TaskStatus) -> tuple[TaskAction, ...]:
    """The actions valid from `status`, in declaration order."""
    return tuple(action for (source, action) in TRANSITIONS if source is status)


def settle(target: TaskStatus, held: bool) -> TaskStatus:
    """`target` told apart by whether a technician still holds the task (`held`)."""
    if target is TaskStatus.OPEN and held:
        return TaskStatus.ASSIGNED
    if target is TaskStatus.ASSIGNED and not held:
        return TaskStatus.OPEN
    return target


def next_status(status: TaskStatus, action: TaskAction) -> TaskStatus:
    """The status after `action`, or InvalidTransition."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(status, action) from None
