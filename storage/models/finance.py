"""Purchases made for a task and the receipts that prove them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Synced, TenantScoped
from storage.types import JSONType


class Purchase(TenantScoped, Synced, Base):
    __tablename__ = "purchases"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"], ondelete="SET NULL"
        ),
        Index(None, "tenant_id", "task_id"),
    )

    task_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    vendor: Mapped[str] = mapped_column(String(200))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    purchased_at: Mapped[datetime]
    notes: Mapped[str] = mapped_column(Text, default="")
    media_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Receipt(TenantScoped, Synced, Base):
    __tablename__ = "receipts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "purchase_id"],
            ["purchases.tenant_id", "purchases.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "task_id"], ["tasks.tenant_id", "tasks.id"], ondelete="SET NULL"
        ),
        Index(None, "tenant_id", "purchase_id"),
        Index(None, "tenant_id", "task_id"),
    )

    purchase_id: Mapped[uuid.UUID]
    task_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime]
    media_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
