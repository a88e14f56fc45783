"""Reports (PDF job sheets): their rows and states, and the rows a job sheet shows.

A report row is made `queued` by the request, then moved by its job:
`claim` (running, one more attempt), then `finish` (done, with the PDF's blob
key) or `fail` (the error; `failed` when no retry follows, else back to
`queued`). Reports are not synced to devices: they are written here directly,
not through the sync write path.

`sheet_rows` gathers what a job sheet shows of one task: the task, its
tenant, active assignees, the timeline (the latest `max_events`), live
purchases and receipts, photos with a thumbnail (the task's, its purchases'
and its receipts'; the first `max_photos`), the users named, and the
collaborative notes' text.

Every function takes the session of a `TenantUnitOfWork`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pycrdt import Text
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import ydoc_store
from storage.models import (
    MediaAsset,
    Purchase,
    Receipt,
    Report,
    Task,
    TaskAssignment,
    TaskEvent,
    Tenant,
    User,
)
from storage.types import utcnow

MAX_ERROR_CHARS = 1000


async def create(
    session: AsyncSession, task_id: uuid.UUID, locale: str, created_by: uuid.UUID | None
) -> Report:
    report = Report(task_id=task_id, locale=locale, status="queued", created_by=created_by)
    session.add(report)
    await session.flush()
    return report


async def find(session: AsyncSession, report_id: uuid.UUID) -> Report | None:
    """The report, detached from the session."""
    report = await session.scalar(select(Report).where(Report.id == report_id))
    if report is not None:
        session.expunge(report)
    return report


async def find_task(session: AsyncSession, task_id: uuid.UUID) -> Task | None:
    """The live task, detached from the session."""
    task = await session.scalar(select(Task).where(Task.id == task_id, Task.deleted_at.is_(None)))
    if task is not None:
        session.expunge(task)
    return task


async def _locked(session: AsyncSession, report_id: uuid.UUID) -> Report | None:
    return await session.scalar(select(Report).where(Report.id == report_id).with_for_update())


async def claim(session: AsyncSession, report_id: uuid.UUID) -> Report | None:
    """Mark the report running, one attempt more; None if it is gone."""
    report = await _locked(session, report_id)
    if report is not None:
        report.status = "running"
        report.attempts += 1
        await session.flush()
        session.expunge(report)
    return report


async def finish(session: AsyncSession, report_id: uuid.UUID, blob_key: str) -> None:
    report = await _locked(session, report_id)
    if report is not None:
        report.status, report.blob_key, report.error = "done", blob_key, None
        report.finished_at = utcnow()


async def fail(session: AsyncSession, report_id: uuid.UUID, error: str, *, final: bool) -> None:
    """Record the error; `failed` for good when `final`, else queued for the retry."""
    report = await _locked(session, report_id)
    if report is not None:
        report.status = "failed" if final else "queued"
        report.error = error[:MAX_ERROR_CHARS]
        report.finished_at = utcnow() if final else None


async def stuck_running(
    session: AsyncSession, before: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant_id, id) of reports still `running` untouched since `before`, oldest
    first, in every tenant (a platform unit of work)."""
    rows = await session.execute(
        select(Report.tenant_id, Report.id)
        .where(Report.status == "running", Report.updated_at < before)
        .order_by(Report.updated_at)
        .limit(limit)
    )
    return [(tenant_id, report_id) for tenant_id, report_id in rows]


async def fail_if_stuck(
    session: AsyncSession, report_id: uuid.UUID, before: datetime, error: str
) -> bool:
    """Fail the report for good if it is still `running` untouched since `before`
    (checked under the row lock: an attempt that finished meanwhile stands)."""
    report = await _locked(session, report_id)
    if report is None or report.status != "running" or report.updated_at >= before:
        return False
    await fail(session, report_id, error, final=True)
    return True


@dataclass(frozen=True, slots=True)
class SheetRows:
    tenant: Tenant
    task: Task
    assignees: list[User]
    events: list[TaskEvent]
    events_left_out: int
    users: dict[uuid.UUID, User]
    purchases: list[Purchase]
    receipts: list[Receipt]
    photos: list[MediaAsset]
    photos_left_out: int
    notes: str


async def job_number(session: AsyncSession, task_id: uuid.UUID) -> str | None:
    found: str | None = await session.scalar(select(Task.job_number).where(Task.id == task_id))
    return found


async def sheet_rows(
    session: AsyncSession, task_id: uuid.UUID, *, max_events: int, max_photos: int
) -> SheetRows | None:
    """What the job sheet of a live task shows; None if the task is gone."""
    task = await session.scalar(select(Task).where(Task.id == task_id, Task.deleted_at.is_(None)))
    tenant = await session.scalar(select(Tenant).where(Tenant.id == _tenant_id(session)))
    if task is None or tenant is None:
        return None
    events, events_left_out = await _events(session, task_id, max_events)
    purchases = list(
        await session.scalars(
            select(Purchase)
            .where(Purchase.task_id == task_id, Purchase.deleted_at.is_(None))
            .order_by(Purchase.purchased_at, Purchase.id)
        )
    )
    purchase_ids = [purchase.id for purchase in purchases]
    receipts = list(
        await session.scalars(
            select(Receipt)
            .where(
                or_(Receipt.task_id == task_id, Receipt.purchase_id.in_(purchase_ids)),
                Receipt.deleted_at.is_(None),
            )
            .order_by(Receipt.issued_at, Receipt.id)
        )
    )
    photos, photos_left_out = await _photos(
        session, task_id, purchase_ids, [receipt.id for receipt in receipts], max_photos
    )
    assignee_ids = set(
        await session.scalars(
            select(TaskAssignment.user_id).where(
                TaskAssignment.task_id == task_id,
                TaskAssignment.active.is_(True),
                TaskAssignment.deleted_at.is_(None),
            )
        )
    )
    named = assignee_ids | {event.actor_id for event in events if event.actor_id is not None}
    found = await session.scalars(select(User).where(User.id.in_(named)))
    users = {user.id: user for user in found}
    assignees = sorted(
        (users[user_id] for user_id in assignee_ids if user_id in users),
        key=lambda user: (user.display_name or user.email).casefold(),
    )
    notes = await ydoc_store.load(session, f"task:{task_id}:notes")
    session.expunge_all()
    return SheetRows(
        tenant,
        task,
        assignees,
        events,
        events_left_out,
        users,
        purchases,
        receipts,
        photos,
        photos_left_out,
        str(notes.get("notes", type=Text)),
    )


async def _events(
    session: AsyncSession, task_id: uuid.UUID, limit: int
) -> tuple[list[TaskEvent], int]:
    """The latest `limit` events, oldest first, and how many earlier ones were left out."""
    count = select(func.count()).select_from(TaskEvent).where(TaskEvent.task_id == task_id)
    total = await session.scalar(count) or 0
    latest = await session.scalars(
        select(TaskEvent)
        .where(TaskEvent.task_id == task_id)
        .order_by(TaskEvent.server_time.desc(), TaskEvent.version.desc())
        .limit(limit)
    )
    events = sorted(latest, key=happened)
    return events, max(total - len(events), 0)


def happened(event: TaskEvent) -> tuple[datetime, int]:
    """A timeline's order: the device's clock where it sent one, else the server's,
    then the order of arrival (the entries of one push share a server time; their
    versions follow the push's order)."""
    return (event.client_time or event.server_time, event.version)


async def _photos(
    session: AsyncSession,
    task_id: uuid.UUID,
    purchase_ids: list[uuid.UUID],
    receipt_ids: list[uuid.UUID],
    limit: int,
) -> tuple[list[MediaAsset], int]:
    owned: list[Any] = [(MediaAsset.owner_type == "task") & (MediaAsset.owner_id == task_id)]
    if purchase_ids:
        owned.append((MediaAsset.owner_type == "purchase") & MediaAsset.owner_id.in_(purchase_ids))
    if receipt_ids:
        owned.append((MediaAsset.owner_type == "receipt") & MediaAsset.owner_id.in_(receipt_ids))
    condition = (
        or_(*owned),
        MediaAsset.status == "uploaded",
        MediaAsset.thumbnail_key.is_not(None),
        MediaAsset.deleted_at.is_(None),
    )
    total = await session.scalar(select(func.count()).select_from(MediaAsset).where(*condition))
    photos = list(
        await session.scalars(
            select(MediaAsset)
            .where(*condition)
            .order_by(MediaAsset.created_at, MediaAsset.id)
            .limit(limit)
        )
    )
    return photos, max((total or 0) - len(photos), 0)


def _tenant_id(session: AsyncSession) -> uuid.UUID:
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, uuid.UUID):
        raise RuntimeError("sheet_rows needs the session of a TenantUnitOfWork")
    return tenant_id
