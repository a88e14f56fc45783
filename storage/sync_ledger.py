"""The bookkeeping of sync: the tenant's version counter, push batches kept for
resends, and devices (who owns a client id, when it was last seen, how far it
pulled, what its last push did).

Every push runs these statements once each, so on PostgreSQL they go straight
to the session's own asyncpg connection (same transaction, same role, so
row-level security holds) with the tenant named explicitly: the ORM's
per-statement work cost more than the statements themselves. SQLite takes the
ORM path. Every function takes a tenant-bound session
(storage.unit_of_work.TenantUnitOfWork) and never a tenant id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Device, PushBatch, TenantVersion
from storage.sync_store import driver_connection, tenant_of
from storage.types import utcnow


class ClientBound(Exception):
    """The client id already belongs to another user of the tenant."""


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """The first answer to a (client_id, batch_id), and who pushed it."""

    user_id: uuid.UUID
    response: dict[str, Any]


async def _pg(session: AsyncSession) -> Any | None:
    """The asyncpg connection under the session on PostgreSQL, else None."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return await driver_connection(session)


# --- the version counter ---------------------------------------------------------------

_LOCK_VERSION = "SELECT version FROM tenant_versions WHERE tenant_id = $1 FOR UPDATE"


async def lock_version(session: AsyncSession) -> int:
    """The tenant's version, locked until the transaction ends (guarantee 3)."""
    drv = await _pg(session)
    if drv is None:
        version = await session.scalar(select(TenantVersion.version).with_for_update())
        if version is None:
            session.add(TenantVersion(version=0))
            await session.flush()
            return 0
        return int(version)
    tenant_id = tenant_of(session)
    version = await drv.fetchval(_LOCK_VERSION, tenant_id)
    if version is None:  # the tenant's first write: two of them may race to create the row
        await drv.execute(
            "INSERT INTO tenant_versions (tenant_id, version) VALUES ($1, 0)"
            " ON CONFLICT (tenant_id) DO NOTHING",
            tenant_id,
        )
        version = await drv.fetchval(_LOCK_VERSION, tenant_id)
    return int(version)


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(TenantVersion.version)) or 0)


async def set_version(session: AsyncSession, version: int) -> None:
    drv = await _pg(session)
    if drv is None:
        await session.execute(update(TenantVersion).values(version=version))
        return
    await drv.execute(
        "UPDATE tenant_versions SET version = $2 WHERE tenant_id = $1",
        tenant_of(session),
        version,
    )


# --- push batches ----------------------------------------------------------------------


async def find_batch(session: AsyncSession, client_id: str, batch_id: str) -> StoredBatch | None:
    drv = await _pg(session)
    if drv is None:
        result = await session.execute(
            select(PushBatch).where(
                PushBatch.client_id == client_id, PushBatch.batch_id == batch_id
            )
        )
        found = result.scalar_one_or_none()
        return None if found is None else StoredBatch(found.user_id, dict(found.response))
    record = await drv.fetchrow(
        "SELECT user_id, response FROM push_batches"
        " WHERE tenant_id = $1 AND client_id = $2 AND batch_id = $3",
        tenant_of(session),
        client_id,
        batch_id,
    )
    if record is None:
        return None
    response = record["response"]  # SQLAlchemy's codec on the connection decodes json
    if isinstance(response, str | bytes):
        response = orjson.loads(response)
    return StoredBatch(uuid.UUID(bytes=record["user_id"].bytes), response)


async def save_batch(
    session: AsyncSession,
    client_id: str,
    batch_id: str,
    user_id: uuid.UUID,
    response: dict[str, Any],
) -> None:
    drv = await _pg(session)
    if drv is None:
        session.add(
            PushBatch(client_id=client_id, batch_id=batch_id, user_id=user_id, response=response)
        )
        return
    await drv.execute(
        "INSERT INTO push_batches (tenant_id, client_id, batch_id, user_id, response, created_at)"
        " VALUES ($1, $2, $3, $4, $5::json, $6)",
        tenant_of(session),
        client_id,
        batch_id,
        user_id,
        orjson.dumps(response).decode(),
        utcnow(),
    )


# --- devices ---------------------------------------------------------------------------


async def bind_device(
    session: AsyncSession,
    client_id: str,
    user_id: uuid.UUID,
    user_agent: str | None,
    schema: int | None = None,
) -> datetime:
    """Create the device row of `client_id` for `user_id` on first use, or mark
    it seen (with the app schema it speaks, when known); answer the time. Raise
    ClientBound if another user owns it."""
    now = utcnow()
    drv = await _pg(session)
    if drv is None:
        device = await session.get(Device, (tenant_of(session), client_id))
        if device is None:
            device = Device(
                client_id=client_id,
                user_id=user_id,
                user_agent=user_agent,
                first_seen_at=now,  # the same instant as last_seen_at, never later
                last_seen_at=now,
                schema=schema,
            )
            session.add(device)
            await session.flush()
        elif device.user_id != user_id:
            raise ClientBound(client_id)
        device.last_seen_at = now
        if schema is not None:
            device.schema = schema
        return now
    # One round trip creates the row, or touches it if it is this user's; a
    # device of another user is left alone and answers no row.
    owner = await drv.fetchval(
        "INSERT INTO devices (tenant_id, client_id, user_id, user_agent, cursor,"
        " first_seen_at, last_seen_at, last_push_counts, schema)"
        " VALUES ($1, $2, $3, $4, 0, $5, $5, '{}'::jsonb, $6)"
        " ON CONFLICT (tenant_id, client_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at,"
        " schema = COALESCE(EXCLUDED.schema, devices.schema)"
        " WHERE devices.user_id = EXCLUDED.user_id"
        " RETURNING user_id",
        tenant_of(session),
        client_id,
        user_id,
        user_agent,
        now,
        schema,
    )
    if owner is None:
        raise ClientBound(client_id)
    return now


async def note_push(
    session: AsyncSession, client_id: str, pushed_at: datetime, counts: dict[str, int]
) -> None:
    """Record a device's last push: when, and how many changes had each outcome."""
    drv = await _pg(session)
    if drv is None:
        await session.execute(
            update(Device)
            .where(Device.client_id == client_id)
            .values(last_push_at=pushed_at, last_push_counts=counts)
        )
        return
    await drv.execute(
        "UPDATE devices SET last_push_at = $3, last_push_counts = $4::jsonb"
        " WHERE tenant_id = $1 AND client_id = $2",
        tenant_of(session),
        client_id,
        pushed_at,
        orjson.dumps(counts).decode(),
    )


async def note_pull(
    session: AsyncSession,
    client_id: str,
    user_id: uuid.UUID,
    cursor: int,
    schema: int | None = None,
) -> None:
    """Remember how far a device has pulled, and in which app schema (sync health)."""
    drv = await _pg(session)
    if drv is None:
        device = await session.get(Device, (tenant_of(session), client_id))
        if device is None or device.user_id != user_id:
            return
        device.cursor = cursor
        device.last_seen_at = utcnow()
        if schema is not None:
            device.schema = schema
        return
    await drv.execute(
        "UPDATE devices SET cursor = $4, last_seen_at = $5, schema = COALESCE($6, schema)"
        " WHERE tenant_id = $1 AND client_id = $2 AND user_id = $3",
        tenant_of(session),
        client_id,
        user_id,
        cursor,
        utcnow(),
        schema,
    )
