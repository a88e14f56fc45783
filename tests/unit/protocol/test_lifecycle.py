"""The task lifecycle state machine (protocol.lifecycle)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    TaskAction,
    TaskStatus,
    allowed_actions,
    next_status,
    settle,
)


@pytest.mark.parametrize(
    ("path", "end"),
    [
        (["assign", "start", "pause", "resume", "complete"], "completed"),
        (["assign", "start", "reject"], "rejected"),
        (["reject", "reopen", "assign"], "assigned"),
        (["assign", "unassign"], "open"),
    ],
)
def test_paths(path: list[str], end: str) -> None:
    status = TaskStatus.OPEN
    for action in path:
        status = next_status(status, TaskAction(action))
    assert status == TaskStatus(end)


def test_invalid_transition_names_state_and_allowed_actions() -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_status(TaskStatus.COMPLETED, TaskAction.START)
    assert caught.value.status is TaskStatus.COMPLETED
    assert caught.value.allowed == (TaskAction.REOPEN,)
    assert "completed" in str(caught.value)
    assert "reopen" in str(caught.value)


@given(st.sampled_from(TaskStatus), st.sampled_from(TaskAction))
def test_next_status_agrees_with_allowed_actions(status: TaskStatus, action: TaskAction) -> None:
    if action in allowed_actions(status):
        assert next_status(status, action) is TRANSITIONS[(status, action)]
    else:
        with pytest.raises(InvalidTransition):
            next_status(status, action)


@given(st.lists(st.sampled_from(TaskAction), max_size=30))
def test_terminal_states_only_reopen(actions: list[TaskAction]) -> None:
    status = TaskStatus.OPEN
    for action in actions:
        if action in allowed_actions(status):
            status = next_status(status, action)
        if status in (TaskStatus.COMPLETED, TaskStatus.REJECTED):
            assert allowed_actions(status) == (TaskAction.REOPEN,)


def test_every_status_is_reachable_from_open() -> None:
    seen = {TaskStatus.OPEN}
    frontier = [TaskStatus.OPEN]
    while frontier:
        status = frontier.pop()
        for action in allowed_actions(status):
            target = next_status(status, action)
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(TaskStatus)


@given(st.sampled_from(TaskStatus), st.booleans())
def test_settle_tells_open_from_assigned_by_whether_a_technician_holds_the_task(
    status: TaskStatus, held: bool
) -> None:
    settled = settle(status, held)
    if status in (TaskStatus.OPEN, TaskStatus.ASSIGNED):
        assert settled is (TaskStatus.ASSIGNED if held else TaskStatus.OPEN)
    else:
        assert settled is status


def test_a_reopened_task_a_technician_still_holds_can_be_started() -> None:
    reopened = settle(next_status(TaskStatus.COMPLETED, TaskAction.REOPEN), held=True)
    assert next_status(reopened, TaskAction.START) is TaskStatus.IN_PROGRESS
    assert next_status(reopened, TaskAction.UNASSIGN) is TaskStatus.OPEN
