"""Reads about media assets: one asset, the task it hangs off, stale uploads.

A media asset belongs to an owner: a task, a purchase, a receipt, or the
tenant itself. Its task (the one that puts it in a technician's scope and
that its change-log entries carry) is the owner task, the purchase's task, or
the receipt's task (else its purchase's). Writes to media rows go through the
sync service's write path, never through here.

Functions take an open session: a tenant-bound one (TenantUnitOfWork), except
`stale_uploads`, which reads across tenants (PlatformUnitOfWork).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import MediaAsset, Purchase, Receipt, Task

OWNER_TYPES = ("task", "purchase", "receipt", "tenant")


@dataclass(frozen=True, slots=True)
class Owner:
    """An owner that exists, and the task it belongs to (None: no task)."""

    owner_type: str
    owner_id: uuid.UUID | None
    task_id: uuid.UUID | None


async def find_media(
    session: AsyncSession, media_id: uuid.UUID, *, include_deleted: bool = False
) -> MediaAsset | None:
    """The media asset (live only, unless asked), detached from the session."""
    statement = select(MediaAsset).where(MediaAsset.id == media_id)
    if not include_deleted:
        statement = statement.where(MediaAsset.deleted_at.is_(None))
    media = (await session.execute(statement)).scalar_one_or_none()
    if media is not None:
        session.expunge(media)
    return media


async def find_owner(
    session: AsyncSession, owner_type: str, owner_id: uuid.UUID | None
) -> Owner | None:
    """The owner if it exists and is live, with its task; None otherwise."""
    if owner_type == "tenant":
        return Owner(owner_type, owner_id, None)
    if owner_id is None:
        return None
    if owner_type == "task":
        found = await session.scalar(
            select(Task.id).where(Task.id == owner_id, Task.deleted_at.is_(None))
        )
        return None if found is None else Owner(owner_type, owner_id, owner_id)
    if owner_type == "purchase":
        row = (
            await session.execute(
                select(Purchase.id, Purchase.task_id).where(
                    Purchase.id == owner_id, Purchase.deleted_at.is_(None)
                )
            )
        ).first()
        return None if row is None else Owner(owner_type, owner_id, row.task_id)
    if owner_type == "receipt":
        receipt = (
            await session.execute(
                select(Receipt.task_id, Purchase.task_id.label("purchase_task_id"))
                .join(Purchase, Purchase.id == Receipt.purchase_id, isouter=True)
                .where(Receipt.id == owner_id, Receipt.deleted_at.is_(None))
            )
        ).first()
        if receipt is None:
            return None
        return Owner(owner_type, owner_id, receipt.task_id or receipt.purchase_task_id)
    raise ValueError(f"unknown owner type {owner_type!r}")


async def task_of(session: AsyncSession, media: MediaAsset) -> uuid.UUID | None:
    """The task a media asset hangs off now (None if none, or its owner is gone)."""
    owner = await find_owner(session, media.owner_type, media.owner_id)
    return None if owner is None else owner.task_id


@dataclass(frozen=True, slots=True)
class StaleUpload:
    tenant_id: uuid.UUID
    media_id: uuid.UUID
    storage_key: str
    owner_type: str
    owner_id: uuid.UUID | None


async def stale_uploads(session: AsyncSession, before: datetime, limit: int) -> list[StaleUpload]:
    """Pending, live uploads declared before `before`, oldest first, in every tenant."""
    statement = (
        select(
            MediaAsset.tenant_id,
            MediaAsset.id,
            MediaAsset.storage_key,
            MediaAsset.owner_type,
            MediaAsset.owner_id,
        )
        .where(
            MediaAsset.status == "pending",
            MediaAsset.deleted_at.is_(None),
            MediaAsset.created_at < before,
        )
        .order_by(MediaAsset.created_at)
        .limit(limit)
    )
    return [StaleUpload(*row) for row in (await session.execute(statement)).all()]
