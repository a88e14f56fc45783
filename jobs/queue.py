"""The JobQueue port and its two adapters: in-process (asyncio) and rq on Redis.

A job is described by a `JobSpec`: the dotted name of its plain entry point
(what an rq worker imports and calls), the queue it runs on, and its async
core `core(runtime, *args)` (what the in-process queue awaits). Arguments are
strings (ids): they cross Redis.

- `InProcessQueue` (no Redis): runs each job as an asyncio task it owns, at
  most `concurrency` at a time, retrying a failing one after each delay of
  `backoff_s`; `close()` cancels and awaits every task (app cleanup).
- `RqQueue` (REDIS_URL set): enqueues on rq queues named `<prefix>media` and
  `<prefix>reports`, with `Retry(max=3, interval=[10, 60, 300])`; `syncd
  worker` runs them.

Both answer `stats(tenant)` (counts per queue and state, recent failures) and
`retry(job_id, tenant)` (one more attempt of a failed job) for the admin
(jobs.job_stats); a core learns whether a retry follows from
`jobs.attempts.current_attempt()`.

Either way a job's outcome that users see is written to our tables (a media
row's thumbnail fields), never kept only in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from redis import Redis
from rq import Queue, Retry

from jobs.attempts import Attempt, during
from jobs.job_stats import (
    RECENT_FAILURES,
    JobInfo,
    JobNotFound,
    JobNotRetryable,
    JobStats,
    empty_counts,
    visible,
)
from jobs.rq_admin import rq_retry, rq_stats
from jobs.runtime import Runtime
from storage.types import utcnow

QUEUES = ("media", "reports")
RQ_RETRY_INTERVALS_S = (10, 60, 300)
IN_PROCESS_BACKOFF_S = (1.0, 5.0, 30.0)
KEEP_FINISHED = 500

log = structlog.get_logger("jobs.queue")


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    queue: str
    core: Callable[..., Awaitable[Any]]
    timeout_s: int = 300

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"unknown queue {self.queue!r}; known: {', '.join(QUEUES)}")


class JobQueue(Protocol):
    async def enqueue(self, job: JobSpec, *args: str) -> str:
        """Queue `job(*args)`; answer the job's id."""
        ...

    async def close(self) -> None: ...

    async def stats(self, tenant: str | None) -> JobStats:
        """Counts per queue and state and the recent failures, of `tenant` (None: all)."""
        ...

    async def retry(self, job_id: str, tenant: str | None) -> JobInfo:
        """Queue one more attempt of a failed job; JobNotFound, JobNotRetryable."""
        ...


def queue_names(prefix: str) -> list[str]:
    """The rq queue names a worker listens on, for a REDIS_PREFIX."""
    return [prefix + name for name in QUEUES]


# --- in process ---------------------------------------------------------------------


# The in-process statuses, as the admin's states (jobs.job_stats) name them.
IN_PROCESS_STATES = {
    "queued": "queued",
    "running": "started",
    "retrying": "scheduled",
    "finished": "finished",
    "failed": "failed",
    "cancelled": "canceled",
}


@dataclass
class JobRecord:
    id: str
    name: str
    args: tuple[str, ...]
    status: str = "queued"  # queued, running, retrying, finished, failed, cancelled
    attempts: int = 0
    error: str | None = None
    result: Any = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    queue: str = ""
    ended_at: datetime | None = None
    spec: JobSpec | None = field(default=None, repr=False)

    def info(self) -> JobInfo:
        state = IN_PROCESS_STATES[self.status]
        return JobInfo(
            self.id, self.queue, self.name, state, self.attempts, self.error, self.ended_at
        )


class InProcessQueue:
    """Jobs as owned asyncio tasks of this process."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        backoff_s: Sequence[float] = IN_PROCESS_BACKOFF_S,
        concurrency: int = 2,
    ) -> None:
        self.runtime = runtime
        self.backoff_s = tuple(backoff_s)
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._records: OrderedDict[str, JobRecord] = OrderedDict()
        self._closed = False

    async def enqueue(self, job: JobSpec, *args: str) -> str:
        if self._closed:
            raise RuntimeError("Cannot enqueue on a closed job queue")
        record = JobRecord(uuid.uuid4().hex, job.name, args, queue=job.queue, spec=job)
        self._records[record.id] = record
        self._start(job, record, self.backoff_s)
        self._forget_old()
        return record.id

    def _start(self, job: JobSpec, record: JobRecord, backoff_s: tuple[float, ...]) -> None:
        task = asyncio.create_task(
            self._run(job, record, backoff_s), name=f"job:{job.name}:{record.id}"
        )
        self._tasks[record.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(record.id, None))

    async def stats(self, tenant: str | None) -> JobStats:
        counts = empty_counts(QUEUES)
        mine = [record for record in self._records.values() if visible(record.args, tenant)]
        for record in mine:
            counts[record.queue][IN_PROCESS_STATES[record.status]] += 1
        failed = [record.info() for record in reversed(mine) if record.status == "failed"]
        return JobStats("in_process", counts, failed[:RECENT_FAILURES])

    async def retry(self, job_id: str, tenant: str | None) -> JobInfo:
        """One more attempt of a failed job, under the same id (as rq's requeue)."""
        record = self._records.get(job_id)
        if record is None or not visible(record.args, tenant):
            raise JobNotFound(job_id)
        if record.status != "failed" or record.spec is None:
            raise JobNotRetryable(job_id, str(record.status))
        if self._closed:
            raise RuntimeError("Cannot retry on a closed job queue")
        record.status, record.ended_at, record.done = "queued", None, asyncio.Event()
        self._records.move_to_end(job_id)
        self._start(record.spec, record, ())
        return record.info()

    def record(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    async def wait(self, job_id: str) -> JobRecord:
        """The job's record once it finished, failed or was cancelled."""
        record = self._records[job_id]
        await record.done.wait()
        return record

    async def drain(self) -> None:
        """Wait until no job is queued or running (jobs a job queues included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel every job still queued or running and wait for them to stop."""
        self._closed = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: JobSpec, record: JobRecord, backoff_s: tuple[float, ...]) -> None:
        try:
            for attempt in range(len(backoff_s) + 1):
                record.attempts += 1
                final = attempt == len(backoff_s)
                try:
                    async with self._slots:
                        record.status = "running"
                        work = job.core(self.runtime, *record.args)
                        record.result = await asyncio.wait_for(
                            during(Attempt(record.attempts, final), work), job.timeout_s
                        )
                except Exception as exc:  # a job's failure is recorded and retried
                    record.error = f"{type(exc).__name__}: {exc}"
                    if final:
                        record.status, record.ended_at = "failed", utcnow()
                        log.error("job failed", job=job.name, id=record.id, error=record.error)
                        return
                    record.status = "retrying"
                    log.warning("job failed; retrying", job=job.name, error=record.error)
                    await asyncio.sleep(backoff_s[attempt])
                else:
                    record.status, record.error, record.ended_at = "finished", None, utcnow()
                    return
        except asyncio.CancelledError:
            record.status, record.ended_at = "cancelled", utcnow()
            raise
        finally:
            record.done.set()

    def _forget_old(self) -> None:
        while len(self._records) > KEEP_FINISHED:
            oldest_id, oldest = next(iter(self._records.items()))
            if not oldest.done.is_set():
                break
            del self._records[oldest_id]


# --- rq -----------------------------------------------------------------------------


class RqQueue:
    """Jobs on Redis for `syncd worker` processes (rq)."""

    def __init__(
        self,
        redis_url: str,
        prefix: str = "",
        *,
        retry_intervals_s: Sequence[int] = RQ_RETRY_INTERVALS_S,
    ) -> None:
        self.connection = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = prefix
        self.retry_intervals_s = list(retry_intervals_s)

    def queue(self, name: str) -> Queue:
        return Queue(self.prefix + name, connection=self.connection)

    async def enqueue(self, job: JobSpec, *args: str) -> str:
        queued = await asyncio.to_thread(
            self.queue(job.queue).enqueue,
            job.name,
            *args,
            retry=Retry(max=len(self.retry_intervals_s), interval=self.retry_intervals_s)
            if self.retry_intervals_s
            else None,
            job_timeout=job.timeout_s,
            result_ttl=86_400,
            failure_ttl=7 * 86_400,
        )
        return str(queued.id)

    async def stats(self, tenant: str | None) -> JobStats:
        return await asyncio.to_thread(rq_stats, self.connection, self.prefix, QUEUES, tenant)

    async def retry(self, job_id: str, tenant: str | None) -> JobInfo:
        return await asyncio.to_thread(
            rq_retry, self.connection, self.prefix, QUEUES, job_id, tenant
        )

    async def close(self) -> None:
        await asyncio.to_thread(self.connection.close)


# --- periodic -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def every(
    interval_s: float, queue: JobQueue, job: JobSpec, *, first_after_s: float | None = None
) -> AsyncIterator[None]:
    """Queue `job` every `interval_s` while the context is open (an owned task)."""

    async def tick() -> None:
        await asyncio.sleep(interval_s if first_after_s is None else first_after_s)
        while True:
            try:
                await queue.enqueue(job)
            except Exception as exc:  # Redis down: try again next time
                log.warning("could not queue a periodic job", job=job.name, error=str(exc))
            await asyncio.sleep(interval_s)

    task = asyncio.create_task(tick(), name=f"every:{job.name}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
