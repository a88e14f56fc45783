"""What the admin sees of the job queues: counts per queue and state, recent failures.

Both queues answer in these shapes (`JobQueue.stats`, `JobQueue.retry`), with
the same states:

    queued     waiting for a worker
    started    running now
    scheduled  failed, waiting for its next retry
    finished   done (kept a while: rq a day, the in-process queue its last 500)
    failed     failed for good (retry it by hand)
    canceled   stopped before it finished (a shutdown, rq's cancel)

Jobs belong to the tenant named by their first argument (every job but the
platform's upload cleanup takes the tenant id first). A tenant's admin sees
and retries only its own tenant's jobs; a platform operator sees every job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

STATES = ("queued", "started", "scheduled", "finished", "failed", "canceled")
RECENT_FAILURES = 20


class JobNotFound(LookupError):
    """No such job (or not one of the caller's tenant)."""


class JobNotRetryable(RuntimeError):
    """The job has not failed (for good): nothing to retry. `status` is the job's
    state, or None when it is simply not among the failed jobs."""

    def __init__(self, job_id: str, status: str | None = None) -> None:
        where = f"is {status}, not failed" if status else "is not in the failed registry"
        super().__init__(f"job {job_id} {where}")
        self.job_id, self.status = job_id, status


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: str
    queue: str
    name: str
    status: str
    attempts: int | None = None
    error: str | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobStats:
    backend: str  # "rq" or "in_process"
    counts: dict[str, dict[str, int]]  # queue -> state -> jobs
    failures: list[JobInfo]


def empty_counts(queues: tuple[str, ...]) -> dict[str, dict[str, int]]:
    return {queue: dict.fromkeys(STATES, 0) for queue in queues}


def tenant_of(args: tuple[object, ...] | list[object]) -> str | None:
    """The tenant a job belongs to: its first argument, when that is a UUID."""
    if not args:
        return None
    try:
        return str(uuid.UUID(str(args[0])))
    except ValueError:
        return None


def visible(args: tuple[object, ...] | list[object], tenant: str | None) -> bool:
    """Whether a job with these arguments is the caller's (`tenant` None: every job)."""
    return tenant is None or tenant_of(args) == tenant


def last_line(error: str | None) -> str | None:
    """The exception line of a traceback (rq keeps the whole of it)."""
    if not error:
        return error
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None
