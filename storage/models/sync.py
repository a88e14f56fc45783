"""The per-tenant change log, push idempotency, conflicts and Yjs documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, TenantScoped
from storage.types import BigIntPK, JSONText, JSONType, utcnow


class ChangeLogEntry(TenantScoped, Base):
    """One applied change at one tenant version; the source of truth for pull."""

    __tablename__ = "change_log"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "version"),
        Index(None, "tenant_id", "entity_id", "version"),  # a row's history (conflict base)
        Index(None, "tenant_id", "task_id", "version"),  # a technician's tasks
        Index(
            "ix_change_log_assignee",
            "tenant_id",
            "assignee_id",
            "version",
            postgresql_where=text("assignee_id IS NOT NULL"),
            sqlite_where=text("assignee_id IS NOT NULL"),
        ),  # the entries that assign or unassign a technician
    )

    # No foreign key to tenants: every entry is written under a lock on the tenant's
    # version row (which has that key), and a per-row check cost a fifth of the insert.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid())

    version: Mapped[int] = mapped_column(BigInteger)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    op: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    task_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # task_assignment only
    hlc: Mapped[str | None] = mapped_column(String(64), default=None)
    client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushBatch(TenantScoped, Base):
    """The first answer to a (client_id, batch_id): resends get it back verbatim."""

    __tablename__ = "push_batches"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "client_id", "batch_id"),)

    client_id: Mapped[str] = mapped_column(String(100))
    batch_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID]
    response: Mapped[dict[str, Any]] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conflict(TenantScoped, Base):
    """Two concurrent edits LWW settled provisionally, waiting for an admin."""

    __tablename__ = "conflicts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(None, "tenant_id", "status", "created_at"),
        Index(None, "tenant_id", "entity", "entity_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    base: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    server: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    client: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    base_version: Mapped[int | None] = mapped_column(BigInteger, default=None)
    server_version: Mapped[int | None] = mapped_column(BigInteger, default=None)
    client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    server_client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    server_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class YDoc(TenantScoped, Base):
    """A Yjs document's compacted state; later updates live in ydoc_updates."""

    __tablename__ = "ydocs"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    snapshot_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class YDocUpdate(TenantScoped, Base):
    """One Yjs update appended as it arrived, folded into the snapshot later."""

    __tablename__ = "ydoc_updates"
    __table_args__ = (Index(None, "tenant_id", "name", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncRejection(TenantScoped, Base):
    """A change that was answered `rejected`: kept with its problem for admins to replay."""

    __tablename__ = "sync_rejections"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(None, "tenant_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(100))
    batch_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID]
    change: Mapped[dict[str, Any]] = mapped_column(JSONType)
    problem: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="open")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(default=None)
