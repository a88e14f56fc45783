"""Which attempt of its job a running core is, and whether the queue will try again.

A job whose users follow its state in our tables (a report's status) must tell
"failed, will retry" from "failed for good". The queue knows; the core asks
`current_attempt()`. The in-process queue sets it around each attempt; an rq
entry point (through `jobs.runtime.run`) reads it from rq's current job: its
`retries_left` (0 after the last retry, and after a manual requeue, which is
one more attempt). A core run directly, outside any queue, is on its final
attempt.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from rq import get_current_job

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    final: bool


ONLY = Attempt(1, final=True)
_CURRENT: contextvars.ContextVar[Attempt] = contextvars.ContextVar("job_attempt", default=ONLY)


def current_attempt() -> Attempt:
    return _CURRENT.get()


async def during(attempt: Attempt, work: Awaitable[T]) -> T:
    """Await `work` with `attempt` as the current attempt (set in the awaiting task)."""
    token = _CURRENT.set(attempt)
    try:
        return await work
    finally:
        _CURRENT.reset(token)


def rq_attempt() -> Attempt:
    """The attempt of the rq job this worker runs now (ONLY outside an rq worker)."""
    job = get_current_job()
    if job is None:
        return ONLY
    left = job.retries_left or 0
    tries = len(job.retry_intervals or [])
    return Attempt(max(tries - left, 0) + 1, final=left <= 0)
