"""Jobs: the in-process queue (retries with backoff, owned tasks), the cleanup of
uploads never completed, and rq on a real Redis with a real `syncd worker`
process making a thumbnail."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs import runtime
from jobs.cleanup import (
    REMOVE_STALE_UPLOADS,
    STUCK_REPORT_AFTER_S,
    STUCK_REPORT_ERROR,
    fail_stuck_reports,
)
from jobs.queue import InProcessQueue, JobSpec, RqQueue, every
from jobs.runtime import Runtime
from protocol.roles import Role
from storage import report_store
from storage.blobs import LocalBlobStore
from storage.models import MediaAsset, Report
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from syncd.app import create_app
from syncd.sync.service import SyncService
from syncd.worker import EXIT_NO_REDIS, run_worker
from tests.support.factories import make_tenant, signed_in
from tests.support.media import (
    declared,
    jobs_done,
    new_task,
    photo,
    problem,
    send,
    uploaded,
)
from tests.support.processes import worker_env
from tests.support.services import make_settings
from tests.support.sync import Replica

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def job_runtime(sessions: Sessions, tmp_path: Path) -> Runtime:
    return Runtime(
        LocalBlobStore(tmp_path / "blobs"), SyncService(sessions, max_batch=10), sessions
    )


class Flaky:
    """A job core failing its first `failures` calls, recording when each came."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[float] = []

    async def __call__(self, rt: Runtime, name: str) -> str:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"attempt {len(self.calls)} failed")
        return f"hello {name}"


# --- in process -------------------------------------------------------------------------


async def test_in_process_queue_retries_with_backoff(job_runtime: Runtime) -> None:
    queue = InProcessQueue(job_runtime, backoff_s=(0.05, 0.1, 0.2))
    flaky = Flaky(failures=2)
    job_id = await queue.enqueue(JobSpec("tests.flaky", "media", flaky), "world")
    record = await asyncio.wait_for(queue.wait(job_id), timeout=10)
    assert (record.status, record.attempts, record.result, record.error) == (
        "finished",
        3,
        "hello world",
        None,
    )
    gaps = [later - earlier for earlier, later in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1
    await queue.close()


async def test_in_process_queue_gives_up_after_its_retries(job_runtime: Runtime) -> None:
    queue = InProcessQueue(job_runtime, backoff_s=(0.01, 0.01))
    job_id = await queue.enqueue(JobSpec("tests.flaky", "media", Flaky(failures=99)), "x")
    record = await asyncio.wait_for(queue.wait(job_id), timeout=10)
    assert (record.status, record.attempts) == ("failed", 3)
    assert record.error == "ConnectionError: attempt 3 failed"
    await queue.close()


async def test_in_process_queue_cancels_and_awaits_its_jobs_on_close(
    job_runtime: Runtime,
) -> None:
    started, never = asyncio.Event(), asyncio.Event()

    async def slow(rt: Runtime) -> None:
        started.set()
        await never.wait()

    queue = InProcessQueue(job_runtime)
    job_id = await queue.enqueue(JobSpec("tests.slow", "reports", slow))
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.wait_for(queue.close(), timeout=5)
    record = queue.record(job_id)
    assert record is not None
    assert record.status == "cancelled"
    with pytest.raises(RuntimeError, match="closed job queue"):
        await queue.enqueue(JobSpec("tests.slow", "reports", slow))
    with pytest.raises(ValueError, match="unknown queue"):
        JobSpec("tests.slow", "elsewhere", slow)


async def test_every_queues_a_job_periodically_until_closed(job_runtime: Runtime) -> None:
    ticks = asyncio.Queue[int]()

    async def tick(rt: Runtime) -> None:
        ticks.put_nowait(1)

    queue = InProcessQueue(job_runtime)
    async with every(0.01, queue, JobSpec("tests.tick", "media", tick), first_after_s=0):
        for _ in range(3):
            await asyncio.wait_for(ticks.get(), timeout=5)
    await queue.close()


def test_jobs_need_a_configured_runtime() -> None:
    runtime.reset()
    with pytest.raises(RuntimeError, match="configure"):
        runtime.current()


# --- cleanup ----------------------------------------------------------------------------


async def backdate(sessions: Sessions, tenant_id: uuid.UUID, media_id: str, hours: int) -> None:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        await uow.session.execute(
            update(MediaAsset)
            .where(MediaAsset.id == uuid.UUID(media_id))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )
        await uow.commit()


async def test_cleanup_removes_uploads_never_completed(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task = str(await new_task(client, staff, technician))
    phone = Replica()
    await phone.sync(client, technician)
    data = photo()
    abandoned = await declared(client, technician, data, owner_id=task)
    assert (await send(client, abandoned["upload"], data)).status == 200
    fresh = await declared(client, technician, data, owner_id=task)
    done = await uploaded(client, technician, data, owner_id=task)
    await backdate(sessions, tenant.id, abandoned["media_id"], hours=25)
    await backdate(sessions, tenant.id, done["id"], hours=25)
    await jobs_done(app)

    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    record = await asyncio.wait_for(
        queue.wait(await queue.enqueue(REMOVE_STALE_UPLOADS)), timeout=30
    )
    assert record.status == "finished"
    assert record.result >= 1
    gone = await client.get(f"/media/{abandoned['media_id']}", headers=staff.headers)
    await problem(gone, 404, "media_not_found")
    key = f"tenants/{tenant.id}/media/{abandoned['media_id']}"
    assert not await app[appkeys.BLOBS].exists(key)
    for kept in (fresh["media_id"], done["id"]):
        assert (await client.get(f"/media/{kept}", headers=staff.headers)).status == 200
    await phone.sync(client, technician)
    assert ("media_asset", abandoned["media_id"]) not in phone.rows
    assert ("media_asset", fresh["media_id"]) in phone.rows
    # Idempotent: a second run finds nothing of this tenant to remove.
    again = await asyncio.wait_for(
        queue.wait(await queue.enqueue(REMOVE_STALE_UPLOADS)), timeout=30
    )
    assert again.status == "finished"


async def test_cleanup_fails_job_sheets_left_running_by_a_dead_worker(
    client: Any, sessions: Sessions, job_runtime: Runtime
) -> None:
    tenant = await make_tenant(sessions)
    other = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task_id = uuid.UUID(str(await new_task(client, staff)))

    async def running(tenant_id: uuid.UUID, task: uuid.UUID, minutes_ago: int) -> uuid.UUID:
        async with TenantUnitOfWork(sessions, tenant_id) as uow:
            report = await report_store.create(uow.session, task, "en", None)
            await report_store.claim(uow.session, report.id)  # as a worker does, then dies
            await uow.session.execute(
                update(Report)
                .where(Report.id == report.id)
                .values(updated_at=utcnow() - timedelta(minutes=minutes_ago))
            )
            await uow.commit()
            return report.id

    stuck = await running(tenant.id, task_id, minutes_ago=STUCK_REPORT_AFTER_S // 60 + 5)
    busy = await running(tenant.id, task_id, minutes_ago=1)
    theirs = await running(other.id, uuid.uuid4(), minutes_ago=STUCK_REPORT_AFTER_S // 60 + 5)
    assert await fail_stuck_reports(job_runtime) >= 2  # the sweep covers every tenant
    response = await client.get(f"/reports/{stuck}", headers=staff.headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "failed"
    assert body["error"] == STUCK_REPORT_ERROR
    assert (await (await client.get(f"/reports/{busy}", headers=staff.headers)).json())[
        "status"
    ] == "running"
    async with TenantUnitOfWork(sessions, other.id) as uow:
        kept = await report_store.find(uow.session, theirs)
    assert kept is not None
    assert kept.status == "failed"
    # Nothing of the other tenant's shows through this tenant's token.
    assert (await client.get(f"/reports/{theirs}", headers=staff.headers)).status == 404
    assert await fail_stuck_reports(job_runtime) == 0  # idempotent
    # An attempt that finishes between the sweep's query and its write stands.
    late = await running(tenant.id, task_id, minutes_ago=STUCK_REPORT_AFTER_S // 60 + 5)
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        await report_store.finish(uow.session, late, "tenants/x/reports/late.pdf")
        before = utcnow() - timedelta(seconds=STUCK_REPORT_AFTER_S)
        assert not await report_store.fail_if_stuck(uow.session, late, before, "stuck")
        await uow.commit()
    assert (await (await client.get(f"/reports/{late}", headers=staff.headers)).json())[
        "status"
    ] == "done"


# --- rq and `syncd worker` --------------------------------------------------------------


def test_worker_refuses_to_start_without_redis(tmp_path: Path) -> None:
    assert run_worker(make_settings(tmp_path)) == EXIT_NO_REDIS


@pytest.mark.redis
@pytest.mark.e2e
async def test_rq_queue_and_a_worker_process_make_the_thumbnail(
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
    assert isinstance(app[appkeys.JOBS], RqQueue)
    admin = await signed_in(client, sessions)
    media = await uploaded(
        client, admin, photo(orientation=8), owner_id=str(await new_task(client, admin))
    )
    redis = Redis.from_url(redis_url)
    media_queue = Queue(prefix + "media", connection=redis)
    try:
        assert media_queue.count == 1
        job = Job.fetch(media_queue.job_ids[0], connection=redis)
        assert job.func_name == "jobs.thumbnails.make_thumbnail"
        assert job.args == (str(admin.tenant.id), media["id"])
        assert (job.retries_left, job.retry_intervals) == (3, [10, 60, 300])

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
        job.refresh()
        assert job.get_status() == "finished", err.decode()
        assert job.return_value() == "made"
        assert media_queue.count == 0
        read = await (await client.get(f"/media/{media['id']}", headers=admin.headers)).json()
        assert (read["width"], read["height"]) == (400, 800)  # orientation 8: upright
        assert read["thumbnail_url"] == f"/media/{media['id']}/thumbnail"
        assert (
            tmp_path / "blobs" / f"tenants/{admin.tenant.id}/media/{media['id']}.thumb.jpg"
        ).is_file()
    finally:
        media_queue.delete(delete_jobs=True)
        Queue(prefix + "reports", connection=redis).delete(delete_jobs=True)
        redis.close()


async def test_a_removed_upload_id_cannot_be_declared_again(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    data = photo()
    fields = {"media_id": str(uuid.uuid4()), "owner_id": str(await new_task(client, admin))}
    await declared(client, admin, data, **fields)
    await backdate(sessions, admin.tenant.id, fields["media_id"], hours=48)
    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    await asyncio.wait_for(queue.wait(await queue.enqueue(REMOVE_STALE_UPLOADS)), timeout=30)
    again = await client.post(
        "/media/uploads",
        json={"content_type": "image/jpeg", "size": len(data), "owner_type": "task", **fields},
        headers=admin.headers,
    )
    body = await problem(again, 409, "media_id_taken")
    assert "removed" in body["detail"]
