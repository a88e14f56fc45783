"""Log lines worth reading, captured as they are written.

- a 4xx answer's access line carries the problem's `code`;
- every push writes one `push` line with how many changes applied, were
  superseded, conflicted or were rejected;
- a conflict writes `conflict opened` once committed and `conflict resolved`
  when an admin settles it;
- a failed job writes `job failed` (the in-process queue, and rq's worker
  through `syncd.worker.log_failed_job`, on a real Redis).
On SQLite and PostgreSQL where a database is touched.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from redis import Redis
from rq import Queue
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from jobs.queue import InProcessQueue, JobSpec
from jobs.runtime import Runtime
from protocol.roles import Role
from storage.blobs import LocalBlobStore
from syncd.logging import AccessLogger
from syncd.sync.service import SyncService
from syncd.worker import QuickStopWorker, log_failed_job
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import push, upsert

Sessions = async_sessionmaker[AsyncSession]


def boom() -> None:
    raise ConnectionError("the pump's API is down")


async def test_a_4xx_access_line_carries_the_problem_code(
    app: Any, aiohttp_client: Any, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")  # before the server asks
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)  # as `syncd serve` runs it
    client = await aiohttp_client(server)
    admin = await signed_in(client, sessions, Role.ADMIN)
    missing = await client.get(f"/tasks/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status == 404
    listed = await client.get("/tasks", headers=admin.headers)
    assert listed.status == 200
    await client.close()  # the server writes a request's line once its answer is sent
    lines = [r for r in caplog.records if r.name == "aiohttp.access"]
    by_status = {r.__dict__["status"]: r.__dict__ for r in lines}
    assert by_status[404]["code"] == "task_not_found"
    assert "code" not in by_status[200]


async def test_pushes_and_conflicts_write_one_structured_line_each(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    task_id = uuid.uuid4()
    with capture_logs() as logs:
        created = await push(
            client,
            admin,
            "a",
            [
                upsert("task", task_id, "a", title="Pump", priority="normal"),
                upsert("task", uuid.uuid4(), "a", title=""),  # rejected: too short
            ],
        )
        base = created["results"][0]["version"]
        await push(client, admin, "b", [upsert("task", task_id, "b", base, priority="high")])
        answer = await push(
            client, admin, "a", [upsert("task", task_id, "a", base, priority="low")]
        )
        conflict_id = answer["results"][0]["conflict_id"]
        resolved = await client.post(
            f"/conflicts/{conflict_id}/resolve",
            json={"resolution": "keep_server"},
            headers=admin.headers,
        )
        assert resolved.status == 200
    pushes = [line for line in logs if line["event"] == "push"]
    assert [
        (p["client_id"], p["applied"], p["superseded"], p["conflict"], p["rejected"])
        for p in pushes
    ] == [("a", 1, 0, 0, 1), ("b", 1, 0, 0, 0), ("a", 0, 0, 1, 0)]
    opened = [line for line in logs if line["event"] == "conflict opened"]
    assert [(c["conflict_id"], c["entity"], c["fields"]) for c in opened] == [
        (conflict_id, "task", ["priority"])
    ]
    settled = [line for line in logs if line["event"] == "conflict resolved"]
    assert [(c["conflict_id"], c["choice"]) for c in settled] == [(conflict_id, "keep_server")]


async def test_a_failed_in_process_job_writes_its_line(sessions: Sessions, tmp_path: Path) -> None:
    runtime = Runtime(LocalBlobStore(tmp_path / "b"), SyncService(sessions, max_batch=10), sessions)
    queue = InProcessQueue(runtime, backoff_s=())

    async def failing(rt: Runtime) -> None:
        raise ConnectionError("the pump's API is down")

    with capture_logs() as logs:
        job_id = await queue.enqueue(JobSpec("tests.failing", "media", failing))
        record = await asyncio.wait_for(queue.wait(job_id), timeout=10)
    await queue.close()
    assert record.status == "failed"
    failed = [line for line in logs if line["event"] == "job failed"]
    assert [(f["job"], f["id"]) for f in failed] == [("tests.failing", job_id)]


def test_a_failed_rq_job_writes_its_line(redis_url: str) -> None:
    connection = Redis.from_url(redis_url)
    name = f"test-log-{uuid.uuid4().hex[:10]}"
    queue = Queue(name, connection=connection)
    try:
        job = queue.enqueue(boom)
        worker = QuickStopWorker(
            [queue], connection=connection, exception_handlers=[log_failed_job]
        )
        with capture_logs() as logs:
            worker.work(burst=True)
        failed = [line for line in logs if line["event"] == "job failed"]
        assert [(f["id"], f["error"], f["final"]) for f in failed] == [
            (job.id, "ConnectionError", True)
        ]
        assert failed[0]["job"].endswith("boom")
    finally:
        queue.failed_job_registry.remove(job, delete_job=True)
        queue.delete(delete_jobs=True)
        worker.register_death()
        connection.delete(*[key for key in connection.keys(f"rq:*{worker.name}*")] or ["-"])
        connection.close()
