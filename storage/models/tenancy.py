"""Tenants, their version counter, users, sessions, devices and the audit log."""

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from storage.models.base import Base, TenantScoped, Timestamps
from storage.types import BigIntPK, JSONType, utcnow


class Tenant(Timestamps, Base):
    """One company. Not tenant-scoped itself: its id is the tenant."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    branding: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_system: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)


class TenantVersion(TenantScoped, Base):
    """The tenant's change counter; its row is locked for the length of a write."""

    __tablename__ = "tenant_versions"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    version: Mapped[int] = mapped_column(BigInteger, default=0)


class User(TenantScoped, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "email"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(100), default=None)
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    is_platform_operator: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class RefreshToken(TenantScoped, Base):
    """A refresh token, stored hashed; `family_id` ties a rotation chain together."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "family_id"),
        Index(None, "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    client_id: Mapped[str | None] = mapped_column(String(100), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)


class Device(TenantScoped, Base):
    """A device (client id) as the server last saw it: owner, cursor, last push."""

    __tablename__ = "devices"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "client_id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
        ),
    )

    client_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID]
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_push_at: Mapped[datetime | None] = mapped_column(default=None)
    last_push_counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The app schema (protocol/versions.py) of its last push or pull; None: not yet seen.
    schema: Mapped[int | None] = mapped_column(default=None)


class AuditEntry(TenantScoped, Base):
    """Who did what sensitive thing, from where, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32), default=None)
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
