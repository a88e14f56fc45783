"""The conflict inbox: list, read as a field-level diff, resolve (one or many).

A resolution is a change through a unit of change, the one door of synced
writes: the chosen values are written with a server stamp later than every
stamp on the row, logged at the next tenant version (so every device
converges to it), the conflict is marked resolved, and the resolution is
audited -- all in one transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from protocol.entities import ENTITIES, FieldErrors
from protocol.lifecycle import TaskStatus
from storage import sync_store as store
from storage.models import ChangeLogEntry, Conflict
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.server_writes import SERVER_NODE, write_fields
from syncd.sync.service import SyncService
from syncd.sync.unit import UnitOfChange
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict as ConflictProblem
from syncd.web.problems import NotFound, ValidationFailed

log = structlog.get_logger("syncd.sync")

Resolution = Literal["keep_server", "take_client", "custom"]


class ConflictNotFound(NotFound):
    code = "conflict_not_found"
    title = "No such conflict"


class ConflictResolved(ConflictProblem):
    code = "conflict_already_resolved"
    title = "The conflict is already resolved"


class ResolutionInvalid(ConflictProblem):
    code = "resolution_invalid"
    title = "This resolution does not fit the conflict"


def summary(row: Conflict) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "entity": row.entity,
        "entity_id": str(row.entity_id),
        "kind": row.kind,
        "status": row.status,
        "fields": row.fields,
        "user_id": str(row.user_id) if row.user_id else None,
        "client_id": row.client_id,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "resolved_at": row.resolved_at.isoformat().replace("+00:00", "Z")
        if row.resolved_at
        else None,
    }


class ConflictInbox:
    def __init__(self, sync: SyncService) -> None:
        self.sync = sync

    async def list_conflicts(
        self, who: Principal, filters: dict[str, Any], cursor: str | None, limit: int
    ) -> dict[str, Any]:
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            statement = select(Conflict).order_by(Conflict.created_at, Conflict.id).limit(limit)
            for name in ("status", "entity", "user_id", "client_id"):
                if filters.get(name) is not None:
                    statement = statement.where(getattr(Conflict, name) == filters[name])
            if filters.get("since") is not None:
                statement = statement.where(Conflict.created_at >= filters["since"])
            if cursor is not None:
                created, last_id = decode_cursor(cursor, 2)
                try:
                    after = (datetime.fromisoformat(str(created)), uuid.UUID(str(last_id)))
                except ValueError:
                    raise InvalidCursor("the cursor was not made by this server") from None
                statement = statement.where(
                    (Conflict.created_at > after[0])
                    | ((Conflict.created_at == after[0]) & (Conflict.id > after[1]))
                )
            rows = list((await uow.session.execute(statement)).scalars())
            items = [summary(row) for row in rows]
            next_cursor = (
                encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id)
                if len(rows) == limit
                else None
            )
        return {"items": items, "next_cursor": next_cursor}

    async def watermark(self, who: Principal) -> tuple[int, str | None]:
        """(open conflicts, the latest opening or resolution): it moves whenever a
        conflict opens or closes, so a live inbox knows when to reload its list."""
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            opened = await uow.session.scalar(
                select(func.count()).select_from(Conflict).where(Conflict.status == "open")
            )
            latest = (
                await uow.session.execute(
                    select(func.max(Conflict.created_at), func.max(Conflict.resolved_at))
                )
            ).one()
        moments = [moment for moment in latest if moment is not None]
        return int(opened or 0), max(moments).isoformat() if moments else None

    async def detail(self, who: Principal, conflict_id: uuid.UUID) -> dict[str, Any]:
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            row = await self._get(uow.session, conflict_id)
            base = await self._base_values(uow.session, row)
            current = (await store.load_rows(uow.session, row.entity, [row.entity_id])).get(
                row.entity_id
            )
            return {
                **summary(row),
                "diff": [
                    {
                        "field": name,
                        "base": base.get(name),
                        "server": row.server.get(name),
                        "client": row.client.get(name),
                    }
                    for name in row.fields
                ],
                "client": row.client,
                "server": row.server,
                "base_version": row.base_version,
                "server_version": row.server_version,
                "server_client_id": row.server_client_id,
                "resolution": row.resolution,
                "resolved_by": str(row.resolved_by) if row.resolved_by else None,
                "current": store.row_to_json(row.entity, current) if current else None,
            }

    async def _get(self, session: AsyncSession, conflict_id: uuid.UUID) -> Conflict:
        row = await session.get(Conflict, (session.info["tenant_id"], conflict_id))
        if row is None:
            raise ConflictNotFound(Msg("no conflict {conflict_id}", conflict_id=conflict_id))
        return row

    async def _base_values(self, session: AsyncSession, row: Conflict) -> dict[str, Any]:
        """The row as the client last saw it: the last log entry at or before base_version."""
        if not row.base_version:
            return {}
        entry = await session.scalar(
            select(ChangeLogEntry.data)
            .where(
                ChangeLogEntry.entity == row.entity,
                ChangeLogEntry.entity_id == row.entity_id,
                ChangeLogEntry.version <= row.base_version,
            )
            .order_by(ChangeLogEntry.version.desc())
            .limit(1)
        )
        return dict(entry or {})

    async def resolve(
        self,
        origin: Origin,
        who: Principal,
        ids: list[uuid.UUID],
        resolution: Resolution,
        values: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Resolve conflicts in one unit of change; each becomes a logged server change."""
        async with self.sync.unit(who, SERVER_NODE) as unit:
            session = unit.session
            answers = []
            resolved: list[tuple[Conflict, int | None]] = []
            for conflict_id in ids:
                row = await self._get(session, conflict_id)
                if row.status != "open":
                    raise ConflictResolved(
                        Msg("conflict {conflict_id} is already resolved", conflict_id=conflict_id)
                    )
                version = await self._apply(unit, row, resolution, values)
                row.status = "resolved"
                row.resolution = {"choice": resolution, "values": values, "version": version}
                row.resolved_by = who.user_id
                row.resolved_at = utcnow()
                audit.record(
                    session,
                    "conflict_resolved",
                    origin=origin,
                    actor_id=who.user_id,
                    target_type="conflict",
                    target_id=row.id,
                    details={
                        "choice": resolution,
                        "entity": row.entity,
                        "entity_id": str(row.entity_id),
                        "version": version,
                    },
                )
                answers.append({"id": str(row.id), "status": "resolved", "version": version})
                resolved.append((row, version))
            await unit.commit()
        for row, version in resolved:
            log.info(
                "conflict resolved",
                conflict_id=str(row.id),
                choice=resolution,
                entity=row.entity,
                entity_id=str(row.entity_id),
                version=version,
            )
        return answers

    async def _apply(
        self,
        unit: UnitOfChange,
        conflict: Conflict,
        resolution: Resolution,
        values: dict[str, Any] | None,
    ) -> int | None:
        batch = unit.batch
        current = batch.row(conflict.entity, conflict.entity_id)  # an earlier resolution's
        if current is None:
            found = await store.load_rows(unit.session, conflict.entity, [conflict.entity_id])
            current = found.get(conflict.entity_id)
        if current is None:
            raise ResolutionInvalid(Msg("the conflicting row no longer exists"))
        deleted = current.get("deleted_at") is not None
        chosen: dict[str, Any]
        restore = False
        if conflict.kind == "stale_action":
            if resolution == "take_client":
                raise ResolutionInvalid(
                    Msg(
                        "a refused action cannot be replayed; "
                        "set a status with 'custom' values instead"
                    )
                )
            chosen = dict(values or {}) if resolution == "custom" else {}
            if chosen and set(chosen) != {"status"}:
                raise ResolutionInvalid(Msg("custom values of a refused action set 'status' only"))
            if chosen:
                try:
                    TaskStatus(chosen["status"])
                except ValueError:
                    raise ResolutionInvalid(
                        Msg("no status {status}", status=repr(chosen["status"]))
                    ) from None
        elif conflict.kind == "delete_update":
            # The client either deleted (against the server's update) or updated (against
            # the server's delete). Whichever side keeps the row brings it back.
            if resolution == "custom":
                raise ResolutionInvalid(
                    Msg("a delete conflict is resolved by keep_server or take_client")
                )
            client_deleted = conflict.client.get("op") == "delete"
            restore = (resolution == "keep_server") == client_deleted
            chosen = {}
            if restore and not client_deleted:
                chosen = ENTITIES[conflict.entity].validate(
                    dict(conflict.client.get("fields") or {}), creating=False
                )
        else:
            chosen = _edit_choice(conflict, current, resolution, values)
            spec = ENTITIES[conflict.entity]
            try:
                chosen = spec.validate(chosen, creating=False)
            except FieldErrors as exc:
                raise ValidationFailed(
                    Msg("{count} field(s) did not validate", count=len(exc.errors)),
                    errors=exc.errors,
                ) from None
        if deleted and not restore:
            return None  # deleted since the conflict opened: the delete stands
        if not chosen and not restore:
            return None
        return write_fields(
            unit, conflict.entity, conflict.entity_id, current, chosen, restore=restore
        )


def _edit_choice(
    conflict: Conflict,
    current: dict[str, Any],
    resolution: Resolution,
    values: dict[str, Any] | None,
) -> dict[str, Any]:
    """The fields a resolution of concurrent edits writes, judged against the row now.

    `keep_server` undoes the device's edit only where it still stands (the field
    holds the device's value, set by that device); a field edited again since
    the conflict opened keeps its newer value. `take_client` sets the device's
    values where they do not stand already. `custom` sets the given values.
    """
    if resolution == "custom":
        return dict(values or {})
    now = store.row_to_json(conflict.entity, current)
    clocks = current.get("field_clocks") or {}
    if resolution == "take_client":
        return {
            name: conflict.client[name]
            for name in conflict.fields
            if name in conflict.client and now.get(name) != conflict.client[name]
        }
    return {
        name: conflict.server.get(name)
        for name in conflict.fields
        if name in conflict.client
        and now.get(name) == conflict.client[name]
        and (clocks.get(name) or {}).get("by") == conflict.client_id
        and now.get(name) != conflict.server.get(name)
    }
