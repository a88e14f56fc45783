"""The rq side of the job admin: counts from rq's registries, failures, requeue.

Blocking calls on a redis-py connection (RqQueue runs them in a thread). For
every job (no tenant) the counts are the registries' own sizes; for a tenant
the newest `SCAN_LIMIT` jobs of each registry are read and counted when they
are the tenant's. A manual retry is `FailedJobRegistry.requeue`: one more
attempt (its retries are spent), under the same job id.
"""

from __future__ import annotations

from collections.abc import Callable

from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import BaseRegistry

from jobs.job_stats import (
    RECENT_FAILURES,
    JobInfo,
    JobNotFound,
    JobNotRetryable,
    JobStats,
    empty_counts,
    last_line,
    visible,
)

SCAN_LIMIT = 1000
_REGISTRIES: dict[str, Callable[[Queue], BaseRegistry]] = {
    "started": lambda queue: queue.started_job_registry,
    "scheduled": lambda queue: queue.scheduled_job_registry,
    "finished": lambda queue: queue.finished_job_registry,
    "failed": lambda queue: queue.failed_job_registry,
    "canceled": lambda queue: queue.canceled_job_registry,
}


def rq_stats(
    connection: Redis, prefix: str, queues: tuple[str, ...], tenant: str | None
) -> JobStats:
    counts = empty_counts(queues)
    failures: list[JobInfo] = []
    for name in queues:
        queue = Queue(prefix + name, connection=connection)
        ids = {"queued": list(queue.get_job_ids(0, SCAN_LIMIT - 1))}
        for state, registry_of in _REGISTRIES.items():
            registry = registry_of(queue)
            if tenant is None:
                counts[name][state] = registry.count
            else:
                found = registry.get_job_ids(0, SCAN_LIMIT - 1, desc=True)
                ids[state] = list(dict.fromkeys(found))
        if tenant is None:
            counts[name]["queued"] = queue.count
        else:
            for state, job_ids in ids.items():
                jobs = Job.fetch_many(job_ids, connection=connection)
                counts[name][state] = sum(
                    1 for job in jobs if job is not None and visible(job.args, tenant)
                )
        failures += _failures(queue, name, tenant)
    failures.sort(key=lambda info: info.ended_at.timestamp() if info.ended_at else 0, reverse=True)
    return JobStats("rq", counts, failures[:RECENT_FAILURES])


def _failures(queue: Queue, name: str, tenant: str | None) -> list[JobInfo]:
    newest = queue.failed_job_registry.get_job_ids(0, SCAN_LIMIT - 1, desc=True)
    found = []
    for job in Job.fetch_many(newest, connection=queue.connection):
        if job is not None and visible(job.args, tenant):
            found.append(_info(job, name, "failed"))
            if len(found) == RECENT_FAILURES:
                break
    return found


def _info(job: Job, queue: str, status: str) -> JobInfo:
    result = job.latest_result()
    error = None if result is None else last_line(result.exc_string)
    tries = len(job.retry_intervals or [])
    attempts = tries - (job.retries_left or 0) + 1 if tries else None
    return JobInfo(job.id, queue, job.func_name or "", status, attempts, error, job.ended_at)


def rq_retry(
    connection: Redis, prefix: str, queues: tuple[str, ...], job_id: str, tenant: str | None
) -> JobInfo:
    try:
        job = Job.fetch(job_id, connection=connection)
    except (NoSuchJobError, ValueError):
        raise JobNotFound(job_id) from None
    names = {prefix + name: name for name in queues}
    if job.origin not in names or not visible(job.args, tenant):
        raise JobNotFound(job_id)
    if job.get_status() != JobStatus.FAILED:
        raise JobNotRetryable(job_id, str(job.get_status()))
    try:
        job.requeue()
    except InvalidJobOperation:
        raise JobNotRetryable(job_id) from None
    return _info(job, names[job.origin], "queued")
