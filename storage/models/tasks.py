"""Tasks, their assignments and their append-only, geo-stamped timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from protocol.lifecycle import TaskStatus
from storage.models.base import Base, Synced, TenantScoped
from storage.types import JSONType, utcnow


def _task_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"], ondelete="CASCADE"
    )


class Task(TenantScoped, Synced, Base):
    __tablename__ = "tasks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index(None, "tenant_id", "version"),
        Index(None, "tenant_id", "status"),
        CheckConstraint(
            "(scheduled_start IS NULL) = (scheduled_end IS NULL)"
            " AND (scheduled_end IS NULL OR scheduled_end >= scheduled_start)",
            name="scheduled_window",
        ),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    location: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The visit's booked window (schema 2, protocol/versions.py).
    scheduled_start: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_end: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class TaskAssignment(TenantScoped, Synced, Base):
    __tablename__ = "task_assignments"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        _task_fk(),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "task_id", "user_id"),
        Index(None, "tenant_id", "user_id"),
    )

    task_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(default=True)


class TaskEvent(TenantScoped, Base):
    """One timeline entry; a grow-only set keyed by the client's UUID."""

    __tablename__ = "task_events"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        _task_fk(),
        Index(None, "tenant_id", "task_id", "server_time"),
    )

    # The task's key (tenant_id, task_id) proves the tenant and cascades its
    # deletion: no second, per-row check against tenants.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid())

    id: Mapped[uuid.UUID]
    task_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    client_time: Mapped[datetime | None] = mapped_column(default=None)
    server_time: Mapped[datetime] = mapped_column(default=utcnow)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lng: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    refused: Mapped[bool] = mapped_column(default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class ChecklistItem(TenantScoped, Synced, Base):
    """One item of a task's checklist: a label, ticked or not, in an order."""

    __tablename__ = "checklist_items"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        _task_fk(),
        Index(None, "tenant_id", "task_id"),
    )

    task_id: Mapped[uuid.UUID]
    label: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
