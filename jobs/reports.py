"""Job sheets as a job: `make_job_sheet(tenant_id, report_id)` on the `reports` queue.

The report row (storage.report_store) carries the state users read:
`queued` -> `running` (one attempt more) -> `done` (the PDF stored under
`tenants/<tenant>/reports/<report>.pdf`) or, on an error, back to `queued`
while the queue will retry, `failed` with the error once it will not
(`jobs.attempts`). A task deleted meanwhile fails the report at once (a
retry would not bring it back).

The data is read in one tenant-bound unit of work, the thumbnails and the
logo from the blob store, then `jobs.job_sheets.render` runs in a worker
thread (it is CPU work). Idempotent: a report already done whose PDF is
stored is left as it is; running it again otherwise makes the same file
under the same key.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from jobs import runtime
from jobs.attempts import current_attempt
from jobs.job_sheets import render
from jobs.queue import JobSpec
from jobs.runtime import Runtime
from jobs.sheet_build import build_sheet
from jobs.sheet_data import JobSheet
from storage import report_store
from storage.blobs import BlobNotFound, BlobStore
from storage.unit_of_work import TenantUnitOfWork

MAX_EVENTS = 1000
MAX_PHOTOS = 60
PARALLEL_READS = 8

log = structlog.get_logger("jobs.reports")


def report_key(tenant_id: uuid.UUID, report_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/reports/{report_id}.pdf"


async def job_sheet(rt: Runtime, tenant_id: str, report_id: str) -> str:
    """The job's core; answers what it did: made, exists, missing or task_gone."""
    tenant, report_uuid = uuid.UUID(tenant_id), uuid.UUID(report_id)
    key = report_key(tenant, report_uuid)
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        report = await report_store.find(uow.session, report_uuid)
    if report is None:
        return "missing"
    if report.status == "done" and report.blob_key == key and await rt.blobs.exists(key):
        return "exists"
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        claimed = await report_store.claim(uow.session, report_uuid)
        await uow.commit()
    if claimed is None:
        return "missing"
    try:
        sheet = await load_sheet(rt, tenant, claimed.task_id, claimed.locale)
        if sheet is None:
            await _failed(rt, tenant, report_uuid, "the task no longer exists", final=True)
            return "task_gone"
        pdf = await asyncio.to_thread(render, sheet)
        await rt.blobs.put_bytes(key, pdf)
    except Exception as exc:  # recorded for users, then raised for the queue to retry
        # Users read the kind of error; its text (paths, hosts) goes to the log and the admin.
        error = f"could not make the job sheet ({type(exc).__name__})"
        log.warning("job sheet failed", report_id=report_id, error=f"{type(exc).__name__}: {exc}")
        await _failed(rt, tenant, report_uuid, error, final=current_attempt().final)
        raise
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        await report_store.finish(uow.session, report_uuid, key)
        await uow.commit()
    return "made"


def make_job_sheet(tenant_id: str, report_id: str) -> str:
    """The rq entry point: the core on the configured runtime."""
    return runtime.run(job_sheet, tenant_id, report_id)


MAKE_JOB_SHEET = JobSpec("jobs.reports.make_job_sheet", "reports", job_sheet)


async def _failed(
    rt: Runtime, tenant: uuid.UUID, report_id: uuid.UUID, error: str, *, final: bool
) -> None:
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        await report_store.fail(uow.session, report_id, error, final=final)
        await uow.commit()


async def load_sheet(
    rt: Runtime, tenant: uuid.UUID, task_id: uuid.UUID, locale: str
) -> JobSheet | None:
    """The job sheet's data, or None if the task is gone."""
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        rows = await report_store.sheet_rows(
            uow.session, task_id, max_events=MAX_EVENTS, max_photos=MAX_PHOTOS
        )
    if rows is None:
        return None
    logo = (rows.tenant.branding or {}).get("logo")
    logo_key = logo.get("key") if isinstance(logo, dict) else None
    reads = [_read(rt.blobs, str(logo_key)) if logo_key else _nothing()]
    reads += [_read(rt.blobs, str(photo.thumbnail_key)) for photo in rows.photos]
    limit = asyncio.Semaphore(PARALLEL_READS)

    async def bounded(read: Any) -> bytes | None:
        async with limit:
            found: bytes | None = await read
            return found

    logo_bytes, *thumbnails = await asyncio.gather(*(bounded(read) for read in reads))
    photos = [
        (photo, jpeg)
        for photo, jpeg in zip(rows.photos, thumbnails, strict=True)
        if jpeg is not None
    ]
    return build_sheet(rows, locale, logo_bytes, photos)


async def _read(blobs: BlobStore, key: str) -> bytes | None:
    try:
        return await blobs.read(key)
    except BlobNotFound:
        return None


async def _nothing() -> bytes | None:
    return None
