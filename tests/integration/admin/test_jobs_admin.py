"""The job admin (`GET /admin/jobs`, `POST /admin/jobs/{id}/retry`) over both queues.

A job sheet whose PDF cannot be stored (a file stands where its folder
should be: a real OSError) fails for good, shows up with its error, is retried
once the way is clear, and is then done; the report row tells the same story.
In process on both databases; on rq with a real Redis and real `syncd worker
--burst` processes. Another tenant's admin sees none of it and cannot retry it.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis import Redis
from rq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.attempts import Attempt, during
from jobs.queue import InProcessQueue, RqQueue
from jobs.reports import job_sheet
from jobs.runtime import Runtime
from protocol.roles import Role
from storage import report_store
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.settings import Settings
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.media import follow, jobs_done, new_task, problem
from tests.support.processes import worker_env
from tests.support.reports import block_reports
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
SHEET_JOB = "jobs.reports.make_job_sheet"


async def ask(client: Any, account: Account, task_id: uuid.UUID) -> str:
    response = await client.post(
        f"/tasks/{task_id}/job-sheets", json={"locale": "en"}, headers=account.headers
    )
    assert response.status == 202, await response.text()
    report_id: str = (await response.json())["id"]
    return report_id


async def report(client: Any, account: Account, report_id: str) -> dict[str, Any]:
    response = await client.get(f"/reports/{report_id}", headers=account.headers)
    assert response.status == 200, await response.text()
    found: dict[str, Any] = await response.json()
    return found


async def admin_jobs(client: Any, account: Account) -> dict[str, Any]:
    response = await client.get("/admin/jobs", headers=account.headers)
    assert response.status == 200, await response.text()
    found: dict[str, Any] = await response.json()
    return found


def counts(jobs: dict[str, Any], queue: str) -> dict[str, int]:
    found: dict[str, int] = next(q["counts"] for q in jobs["queues"] if q["name"] == queue)
    return found


async def retry(client: Any, account: Account, job_id: str) -> Any:
    return await client.post(f"/admin/jobs/{job_id}/retry", headers=account.headers)


async def strangers_see_nothing(client: Any, stranger: Account, job_id: str) -> None:
    theirs = await admin_jobs(client, stranger)
    assert theirs["failures"] == []
    assert all(n == 0 for n in counts(theirs, "reports").values())
    await problem(await retry(client, stranger, job_id), 404, "job_not_found")


# --- in process -------------------------------------------------------------------------


async def test_in_process_failures_are_listed_and_retried(
    client: Any, app: web.Application, sessions: Sessions, settings: Settings
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    stranger = await signed_in(client, sessions, Role.ADMIN)
    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    queue.backoff_s = (0.01,)  # two attempts, at once
    blocker = block_reports(settings, tenant.id)
    report_id = await ask(client, staff, await new_task(client, staff))
    await jobs_done(app)

    failed = await report(client, staff, report_id)
    assert (failed["status"], failed["attempts"]) == ("failed", 2)
    assert failed["error"] in (
        "could not make the job sheet (FileExistsError)",
        "could not make the job sheet (NotADirectoryError)",
    )
    jobs = await admin_jobs(client, admin)
    assert jobs["backend"] == "in_process"
    assert counts(jobs, "reports") == {
        "queued": 0,
        "started": 0,
        "scheduled": 0,
        "finished": 0,
        "failed": 1,
        "canceled": 0,
    }
    [failure] = jobs["failures"]
    assert (failure["queue"], failure["name"], failure["status"]) == (
        "reports",
        SHEET_JOB,
        "failed",
    )
    assert failure["attempts"] == 2
    assert failure["error"].startswith(("FileExistsError: ", "NotADirectoryError: "))
    assert failure["ended_at"] is not None
    await strangers_see_nothing(client, stranger, failure["id"])
    await problem(await client.get("/admin/jobs", headers=staff.headers), 403, "permission_denied")
    await problem(await retry(client, staff, failure["id"]), 403, "permission_denied")

    blocker.unlink()
    retried = await retry(client, admin, failure["id"])
    assert retried.status == 202, await retried.text()
    assert (await retried.json())["status"] in ("queued", "started")
    await jobs_done(app)
    done = await report(client, staff, report_id)
    assert (done["status"], done["attempts"], done["error"]) == ("done", 3, None)
    await follow(client, staff, done["content_url"])
    jobs = await admin_jobs(client, admin)
    assert (counts(jobs, "reports")["finished"], counts(jobs, "reports")["failed"]) == (1, 0)
    assert jobs["failures"] == []
    await problem(await retry(client, admin, failure["id"]), 409, "job_not_failed")
    in_arabic = await client.post(
        f"/admin/jobs/{failure['id']}/retry", headers={**admin.headers, "Accept-Language": "ar"}
    )
    assert (await in_arabic.json())["detail"].startswith(f"المهمة {failure['id']} ")
    # A platform-wide view (an operator's) counts every tenant's jobs.
    everyone = await queue.stats(None)
    assert everyone.counts["reports"]["finished"] >= 1


async def test_retrying_what_is_not_there_is_not_found(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    for job_id in (uuid.uuid4().hex, "not a job", "x" * 101):
        await problem(await retry(client, admin, job_id), 404, "job_not_found")


async def test_a_failure_with_a_retry_to_come_leaves_the_report_queued(
    client: Any, app: web.Application, sessions: Sessions, settings: Settings
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    async with TenantUnitOfWork(sessions, staff.tenant.id) as uow:
        row = await report_store.create(uow.session, task_id, "en", staff.user_id)
        await uow.commit()
    block_reports(settings, staff.tenant.id)
    runtime = Runtime(app[appkeys.BLOBS], app[appkeys.SYNC], app[appkeys.SESSIONS])
    with pytest.raises(OSError, match=r"File exists|Not a directory"):
        await during(Attempt(1, final=False), job_sheet(runtime, str(staff.tenant.id), str(row.id)))
    read = await report(client, staff, str(row.id))
    assert (read["status"], read["attempts"], read["finished_at"]) == ("queued", 1, None)
    assert read["error"]


# --- rq and `syncd worker` --------------------------------------------------------------


async def burst(tmp_path: Path, env: dict[str, str]) -> None:
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncd.cli",
        "worker",
        "--burst",
        env=worker_env(tmp_path, env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(worker.communicate(), timeout=120)
    assert worker.returncode == 0, err.decode()


@pytest.mark.redis
@pytest.mark.e2e
async def test_rq_failures_are_listed_and_retried_by_a_worker_process(
    aiohttp_client: Any,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    sessions: Sessions,
) -> None:
    prefix = redis_prefix
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "BLOB_DIR": str(tmp_path / "blobs"),
    }
    settings = make_settings(tmp_path, **env)
    app = create_app(settings)
    client = await aiohttp_client(app)
    queue = app[appkeys.JOBS]
    assert isinstance(queue, RqQueue)
    queue.retry_intervals_s = []  # fail for good at once: rq's retries wait 10 s and more
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    stranger = await signed_in(client, sessions, Role.ADMIN)
    redis = Redis.from_url(redis_url)
    try:
        blocker = block_reports(settings, tenant.id)
        report_id = await ask(client, admin, await new_task(client, admin))
        jobs = await admin_jobs(client, admin)
        assert jobs["backend"] == "rq"
        assert counts(jobs, "reports")["queued"] == 1
        assert (await report(client, admin, report_id))["status"] == "queued"

        await burst(tmp_path, env)
        failed = await report(client, admin, report_id)
        assert (failed["status"], failed["attempts"]) == ("failed", 1)
        jobs = await admin_jobs(client, admin)
        assert (counts(jobs, "reports")["queued"], counts(jobs, "reports")["failed"]) == (0, 1)
        [failure] = jobs["failures"]
        assert (failure["queue"], failure["name"], failure["status"]) == (
            "reports",
            SHEET_JOB,
            "failed",
        )
        assert failure["error"].startswith(("FileExistsError", "NotADirectoryError"))
        await strangers_see_nothing(client, stranger, failure["id"])

        blocker.unlink()
        retried = await retry(client, admin, failure["id"])
        assert retried.status == 202, await retried.text()
        assert (await retried.json())["status"] == "queued"
        assert counts(await admin_jobs(client, admin), "reports")["queued"] == 1
        await burst(tmp_path, env)
        done = await report(client, admin, report_id)
        assert (done["status"], done["attempts"], done["error"]) == ("done", 2, None)
        await follow(client, admin, done["content_url"])
        jobs = await admin_jobs(client, admin)
        assert (counts(jobs, "reports")["finished"], counts(jobs, "reports")["failed"]) == (1, 0)
        await problem(await retry(client, admin, failure["id"]), 409, "job_not_failed")
        everyone = await queue.stats(None)  # an operator's view: every tenant's jobs
        assert everyone.counts["reports"]["finished"] >= 1
    finally:
        for name in ("media", "reports"):
            rq_queue = Queue(prefix + name, connection=redis)
            for registry in (rq_queue.failed_job_registry, rq_queue.finished_job_registry):
                for job_id in registry.get_job_ids():
                    registry.remove(job_id, delete_job=True)
            rq_queue.delete(delete_jobs=True)
        redis.close()
