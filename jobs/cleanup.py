"""Cleanup: uploads declared but never completed are removed after a while, and
job sheets whose worker died while making them are failed.

`remove_stale_uploads()` finds media rows still `pending` longer than
UPLOAD_CLEANUP_AFTER_SECONDS after they were declared (in every tenant, up to
`BATCH` per run), deletes whatever object was sent under their key, and marks
each row deleted through the write path, so devices drop it too. Idempotent:
a removed upload is no longer pending-and-live, and a missing object is fine.

Reports (jobs.reports) still `running` STUCK_REPORT_AFTER_S after their attempt
began can no longer be running (rq stops an attempt at its timeout; a worker
killed outright leaves the row as it was): they become `failed`, with an error
that says to request the sheet again, instead of `running` for ever. Should
that attempt finish after all, it still marks its report done.

The app queues it every hour.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from jobs import runtime
from jobs.queue import JobSpec
from jobs.reports import MAKE_JOB_SHEET
from jobs.runtime import Runtime
from storage import media_store, report_store
from storage.types import utcnow
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork

BATCH = 500
CLEANUP_INTERVAL_S = 3600.0
STUCK_REPORT_AFTER_S = 3 * MAKE_JOB_SHEET.timeout_s
STUCK_REPORT_ERROR = "the worker stopped while making the job sheet; request it again"

log = structlog.get_logger("jobs.cleanup")


async def cleanup(rt: Runtime) -> int:
    """The job's core; answers how many uploads it removed."""
    now = utcnow()
    async with PlatformUnitOfWork(rt.sessions) as uow:
        stale = await media_store.stale_uploads(
            uow.session, now - timedelta(seconds=rt.upload_ttl_s), BATCH
        )
    for upload in stale:
        async with TenantUnitOfWork(rt.sessions, upload.tenant_id) as uow:
            owner = await media_store.find_owner(uow.session, upload.owner_type, upload.owner_id)
        await rt.blobs.delete(upload.storage_key)
        await rt.writer.server_upsert(
            upload.tenant_id,
            None,
            "media_asset",
            upload.media_id,
            {"deleted_at": now.isoformat()},
            task_id=None if owner is None else owner.task_id,
        )
    if stale:
        log.info("removed uploads never completed", count=len(stale))
    await fail_stuck_reports(rt)
    return len(stale)


async def fail_stuck_reports(rt: Runtime) -> int:
    """Fail the reports left `running` by a worker that died; answers how many."""
    before = utcnow() - timedelta(seconds=STUCK_REPORT_AFTER_S)
    async with PlatformUnitOfWork(rt.sessions) as uow:
        stuck = await report_store.stuck_running(uow.session, before, BATCH)
    failed = 0
    for tenant_id, report_id in stuck:
        async with TenantUnitOfWork(rt.sessions, tenant_id) as uow:
            if await report_store.fail_if_stuck(uow.session, report_id, before, STUCK_REPORT_ERROR):
                failed += 1
            await uow.commit()
    if failed:
        log.warning("failed job sheets left running by a stopped worker", count=failed)
    return failed


def remove_stale_uploads() -> int:
    """The rq entry point: the core on the configured runtime."""
    return runtime.run(cleanup)


REMOVE_STALE_UPLOADS = JobSpec("jobs.cleanup.remove_stale_uploads", "media", cleanup)
