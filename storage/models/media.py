"""Media assets (photos, documents) and generated reports (PDF job sheets)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Synced, TenantScoped, Timestamps


class MediaAsset(TenantScoped, Synced, Base):
    __tablename__ = "media_assets"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(None, "tenant_id", "owner_type", "owner_id"),
        Index(None, "tenant_id", "status", "created_at"),
    )

    owner_type: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    content_type: Mapped[str] = mapped_column(String(100))
    declared_size: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    storage_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str | None] = mapped_column(String(300), default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class Report(TenantScoped, Timestamps, Base):
    """A PDF job sheet: its job's state lives here, not only in the queue."""

    __tablename__ = "reports"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(None, "tenant_id", "task_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    task_id: Mapped[uuid.UUID]
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    blob_key: Mapped[str | None] = mapped_column(String(300), default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
