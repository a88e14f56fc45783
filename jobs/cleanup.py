"""Cleanup: uploads declared but never completed are removed after a while.

`remove_stale_uploads()` finds media rows still `pending` longer than
UPLOAD_CLEANUP_AFTER_SECONDS after they were declared (in every tenant, up to
`BATCH` per run), deletes whatever object was sent under their key, and marks
each row deleted through the write path, so devices drop it too. Idempotent:
a removed upload is no longer pending-and-live, and a missing object is fine.
The app queues it every hour.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from jobs import runtime
from jobs.queue import JobSpec
from jobs.runtime import Runtime
from storage import media_store
from storage.types import utcnow
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork

BATCH = 500
CLEANUP_INTERVAL_S = 3600.0

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
    return len(stale)


def remove_stale_uploads() -> int:
    """The rq entry point: the core on the configured runtime."""
    return runtime.run(cleanup)


REMOVE_STALE_UPLOADS = JobSpec("jobs.cleanup.remove_stale_uploads", "media", cleanup)
