"""Declarative base, naming convention and the mixins every table shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from storage.types import JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {uuid.UUID: Uuid(), datetime: UTCDateTime(), dict[str, Any]: JSONType}


class TenantScoped:
    """A row that belongs to exactly one tenant.

    The unit of work filters every query on these classes by its tenant and
    stamps every insert (wall 1); on PostgreSQL row-level security keyed on the
    same column is the second wall.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Synced(Timestamps):
    """A row devices replicate: client-generated id, per-field clocks, tombstone.

    `field_clocks` maps each field to the HLC stamp of the write that set it;
    `version` is the tenant change-log version of the last change to the row.
    """

    id: Mapped[uuid.UUID] = mapped_column(Uuid())
    field_clocks: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


def tenant_tables() -> list[str]:
    """Names of every tenant-scoped table (row-level security applies to each)."""
    return sorted(
        str(getattr(mapper.local_table, "name", ""))
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    )
