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

_LOCK_VERSION = "SELECT version, job_number FROM tenant_versions WHERE tenant_id = $1 FOR UPDATE"


@dataclass(frozen=True, slots=True)
class Counters:
    """The tenant's version and the last job number given to one of its tasks."""

    version: int
    job_number: int


async def lock_version(session: AsyncSession) -> Counters:
    """The tenant's counters, locked until the transaction ends (guarantee 3; job
    numbers are given under the same lock, so no two tasks share one)."""
    drv = await _pg(session)
    if drv is None:
        found = (
            await session.execute(
                select(TenantVersion.version, TenantVersion.job_number).with_for_update()
            )
        ).first()
        if found is None:
            session.add(TenantVersion(version=0, job_number=0))
            await session.flush()
            return Counters(0, 0)
        return Counters(int(found[0]), int(found[1]))
    tenant_id = tenant_of(session)
    record = await drv.fetchrow(_LOCK_VERSION, tenant_id)
    if record is None:  # the tenant's first write: two of them may race to create the row
        await drv.execute(
            "INSERT INTO tenant_versions (tenant_id, version, job_number) VALUES ($1, 0, 0)"
            " ON CONFLICT (tenant_id) DO NOTHING",
            tenant_id,
        )
        record = await drv.fetchrow(_LOCK_VERSION, tenant_id)
    return Counters(int(record["version"]), int(record["job_number"]))


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(TenantVersion.version)) or 0)


async def set_version(session: AsyncSession, version: int, job_number: int | None = None) -> None:
    """Move the tenant's version (and its last job number, when one was given)."""
    drv = await _pg(session)
    if drv is None:
        values: dict[str, int] = {"version": version}
        if job_number is not None:
            values["job_number"] = job_number
        await session.execute(update(TenantVersion).values(**values))
        return
    if job_number is None:
        await drv.execute(
            "UPDATE tenant_versions SET version = $2 WHERE tenant_id = $1",
            tenant_of(session),
            version,
        )
        return
    await drv.execute(
        "UPDATE tenant_versions SET version = $2, job_number = $3 WHERE tenant_id = $1",
        tenant_of(session),
        version,
        job_number,
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


# --- a push's bookkeeping, in one round trip at each end ---------------------------------


# Creates the row, or touches it if it is this user's; a device of another user is
# left alone and answers no row. ($1 tenant, $2 client id, $3 user, $4 user agent,
# $5 the time, $6 the schema.)
_BIND_DEVICE = (
    "INSERT INTO devices (tenant_id, client_id, user_id, user_agent, cursor,"
    " first_seen_at, last_seen_at, last_push_counts, schema)"
    " VALUES ($1, $2, $3, $4, 0, $5, $5, '{}'::jsonb, $6)"
    " ON CONFLICT (tenant_id, client_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at,"
    " schema = COALESCE(EXCLUDED.schema, devices.schema)"
    " WHERE devices.user_id = EXCLUDED.user_id"
)
# The batch's first answer, if any, and the device bound, in one statement ($7 the batch id).
_OPEN_BATCH = (
    "WITH prior AS (SELECT user_id, response FROM push_batches"  # noqa: S608  (constant text)
    " WHERE tenant_id = $1 AND client_id = $2 AND batch_id = $7),"
    " bound AS (" + _BIND_DEVICE + " RETURNING user_id)"
    " SELECT (SELECT user_id FROM prior) AS prior_user,"
    " (SELECT response FROM prior) AS response, (SELECT user_id FROM bound) AS owner"
)


async def open_batch(
    session: AsyncSession,
    client_id: str,
    batch_id: str,
    user_id: uuid.UUID,
    user_agent: str | None,
    schema: int | None = None,
) -> tuple[StoredBatch | None, datetime]:
    """Under the version lock, at a push's start: the batch's first answer if it was
    pushed before, and the device bound to `user_id` (`bind_device`: raises
    ClientBound if another user owns it); answers (that answer or None, the time).

    On PostgreSQL both are one statement. A resend marks the device seen too; its
    unit of change is rolled back (a resend writes nothing)."""
    drv = await _pg(session)
    if drv is None:
        prior = await find_batch(session, client_id, batch_id)
        if prior is not None:
            return prior, utcnow()
        return None, await bind_device(session, client_id, user_id, user_agent, schema)
    now = utcnow()
    record = await drv.fetchrow(
        _OPEN_BATCH,
        tenant_of(session),
        client_id,
        user_id,
        user_agent,
        now,
        schema,
        batch_id,
    )
    if record["prior_user"] is not None:
        response = record["response"]  # SQLAlchemy's codec on the connection decodes json
        if isinstance(response, str | bytes):
            response = orjson.loads(response)
        return StoredBatch(uuid.UUID(bytes=record["prior_user"].bytes), response), now
    if record["owner"] is None:
        raise ClientBound(client_id)
    return None, now


@dataclass(frozen=True, slots=True)
class PushRecord:
    """What a push leaves behind once its changes are written: its answer, kept for
    resends, and the device's last push (when, and how many of each outcome)."""

    client_id: str
    batch_id: str
    user_id: uuid.UUID
    response: dict[str, Any]
    pushed_at: datetime
    counts: dict[str, int]


async def finish(
    session: AsyncSession, version: int | None, job_number: int | None, push: PushRecord | None
) -> None:
    """A unit of change's last writes before it commits: the tenant's version (None:
    it did not move) and last job number, and the push it applied, if any. On
    PostgreSQL one statement."""
    drv = await _pg(session)
    if drv is None or push is None:
        if push is not None:
            await save_batch(session, push.client_id, push.batch_id, push.user_id, push.response)
            await note_push(session, push.client_id, push.pushed_at, push.counts)
        if version is not None:
            await set_version(session, version, job_number)
        return
    await drv.execute(
        "WITH saved AS (INSERT INTO push_batches"
        " (tenant_id, client_id, batch_id, user_id, response, created_at)"
        " VALUES ($1, $2, $3, $4, $5::json, $6)),"
        " noted AS (UPDATE devices SET last_push_at = $7, last_push_counts = $8::jsonb"
        " WHERE tenant_id = $1 AND client_id = $2)"
        " UPDATE tenant_versions SET version = $9,"
        " job_number = COALESCE($10::bigint, job_number)"
        " WHERE tenant_id = $1 AND $9::bigint IS NOT NULL",
        tenant_of(session),
        push.client_id,
        push.batch_id,
        push.user_id,
        orjson.dumps(push.response).decode(),
        utcnow(),
        push.pushed_at,
        orjson.dumps(push.counts).decode(),
        version,
        job_number,
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
    owner = await drv.fetchval(
        _BIND_DEVICE + " RETURNING user_id",
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
