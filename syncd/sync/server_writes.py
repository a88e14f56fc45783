"""Writes the server makes on someone's behalf: a person's REST edit, a job's
update of a row, an admin's resolution of a conflict.

Each goes through a unit of change like a device's push, stamped by the
server's clock later than every stamp on the row, so it wins and every
device converges to it:

- `apply`: one `Change` built from a REST request, based on the row's
  current version (the person saw the latest state: no conflict), after a
  `check` that may refuse it (a stale If-Match, an invalid transition);
- `server_upsert`: column values of one row from a job or a REST feature
  (a media asset's status), with an optional timeline entry;
- `write_fields`: the values a conflict resolution chose, into the unit the
  inbox holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.changes import Change
from protocol.entities import ENTITIES
from protocol.merge import Outcome
from protocol.roles import Role
from storage import sync_store as store
from syncd.auth.principal import Principal
from syncd.sync import timeline
from syncd.sync.apply import apply_change
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.preload import preload
from syncd.sync.scope import Scope
from syncd.sync.unit import Core, UnitOfChange

SERVER_NODE = "server"
NOBODY = uuid.UUID(int=0)
Check = Callable[[AsyncSession, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Applied:
    """What `apply` did with one change: its result and the row after it (JSON)."""

    result: ChangeOutcome
    row: dict[str, Any] | None


async def apply(
    sync: Core, who: Principal, change: Change, *, client_id: str, check: Check | None
) -> Applied:
    """Apply one change made on the server by a person (a REST write).

    `check(session, current)` sees the row as it stands (JSON, or None) before
    anything is written and may raise to refuse the write: nothing is then
    written."""
    async with UnitOfChange(sync, who, client_id) as unit:
        await preload(unit, [change])
        current = unit.batch.row(change.entity, change.id)
        if check is not None:
            shown = None if current is None else store.row_to_json(change.entity, current)
            await check(unit.session, shown)
        stamped = change.model_copy(
            update={
                "hlc": str(unit.server_stamp(current, client_id)),
                "base_version": (current or {}).get("version", 0),
            }
        )
        result = await apply_change(unit, stamped)
        if result.status is not Outcome.REJECTED:
            await unit.commit()
    row = unit.batch.row(change.entity, change.id)
    return Applied(result, None if row is None else store.row_to_json(change.entity, row))


async def server_upsert(
    sync: Core,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    entity: str,
    row_id: uuid.UUID,
    values: dict[str, Any],
    task_id: uuid.UUID | None = None,
    *,
    event: str | None = None,
) -> int:
    """Write column values of one row on the server's own behalf; answers the version.

    `values` are JSON values of the entity's columns (not only the fields
    devices may write: a media asset's `status`); `task_id` names the task
    the row hangs off when its entity does not say (media); `event` names a
    timeline entry to add to that task with the write (`media_added`)."""
    spec = ENTITIES.get(entity)
    if spec is None or entity not in store.MODELS:
        raise ValueError(f"unknown entity {entity!r}")
    who = Principal(actor_id or NOBODY, tenant_id, Role.ADMIN, NOBODY, SERVER_NODE)
    async with UnitOfChange(sync, who, SERVER_NODE, scope=Scope.whole_tenant(who.user_id)) as unit:
        batch = unit.batch
        current = (await store.load_rows(unit.session, entity, [row_id])).get(row_id)
        stamp = str(unit.server_stamp(current, SERVER_NODE))
        version = batch.next_version()
        row = dict(current) if current is not None else store.new_row(entity, batch.now)
        row.update(store.json_to_row(entity, values))
        clocks: dict[str, Any] = dict((current or {}).get("field_clocks") or {})
        for name in values:
            clocks[name] = {"hlc": stamp, "v": version, "by": SERVER_NODE}
        row.update(id=row_id, version=version, updated_at=batch.now)
        if "field_clocks" in row:
            row["field_clocks"] = clocks
        if current is None:
            row.setdefault("created_at", batch.now)
        batch.stage(entity, row_id, row)
        task_id = task_id or spec.task_of(row_id, row)
        op = "delete" if row.get("deleted_at") is not None else "upsert"
        batch.record(entity, row_id, op, row, task_id, stamp)
        if event is not None and task_id is not None:
            payload = (
                timeline.creation_payload(entity, row_id, row)
                if spec.summary
                else {f"{entity}_id": str(row_id)}
            )
            timeline.add_entry(
                batch, source_id=row_id, hlc=stamp, kind=event, task_id=task_id, payload=payload
            )
        await unit.commit()
    return version


def write_fields(
    unit: UnitOfChange,
    entity: str,
    row_id: uuid.UUID,
    current: dict[str, Any],
    chosen: dict[str, Any],
    *,
    restore: bool,
) -> int:
    """Stage `chosen` (JSON values) into the row, bringing it back if `restore`;
    answers the version it is logged at."""
    batch = unit.batch
    stamp = str(unit.server_stamp(current, SERVER_NODE))
    version = batch.next_version()
    clocks = dict(current.get("field_clocks") or {})
    row = dict(current)
    row.update(store.json_to_row(entity, chosen))
    for name in chosen:
        clocks[name] = {"hlc": stamp, "v": version, "by": SERVER_NODE}
    if restore:
        clocks.pop("_deleted", None)
        row["deleted_at"] = None
    row.update(field_clocks=clocks, version=version, updated_at=batch.now)
    batch.stage(entity, row_id, row)
    batch.record(entity, row_id, "upsert", row, ENTITIES[entity].task_of(row_id, row), stamp)
    return version
