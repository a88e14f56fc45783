"""The background jobs, for admins: whose jobs a caller sees, how a job reads, its problems.

Read from the queue in use (rq's registries, or the in-process queue's
records; jobs.job_stats). A tenant's admin sees and retries the jobs of its
own tenant only; a platform operator sees every job, the platform's own
(upload cleanup) included. A retry is one more attempt of a job that failed
for good; what the job does keeps its own state (a report's status).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from jobs.job_stats import JobInfo, JobNotRetryable
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.web.problems import Conflict, NotFound

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
State = Literal["queued", "started", "scheduled", "finished", "failed", "canceled"]


class JobNotFoundProblem(NotFound):
    code = "job_not_found"
    title = "No such job"


class JobNotFailed(Conflict):
    code = "job_not_failed"
    title = "Only a failed job can be retried"

    @classmethod
    def of(cls, refused: JobNotRetryable) -> JobNotFailed:
        """The problem of a retry the queue refused, in the reader's language."""
        if refused.status:
            return cls(
                Msg(
                    "job {job_id} is {status}, not failed",
                    job_id=refused.job_id,
                    status=refused.status,
                )
            )
        return cls(Msg("job {job_id} is not in the failed registry", job_id=refused.job_id))


def job_read(job: JobInfo) -> dict[str, Any]:
    return {
        "id": job.id,
        "queue": job.queue,
        "name": job.name,
        "status": job.status,
        "attempts": job.attempts,
        "error": job.error,
        "ended_at": None if job.ended_at is None else job.ended_at.isoformat(),
    }


def job_scope(who: Principal) -> str | None:
    """Whose jobs the caller sees: their tenant's, or (platform operator) everyone's."""
    return None if who.is_platform_operator else str(who.tenant_id)
