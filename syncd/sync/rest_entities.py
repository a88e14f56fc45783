"""The REST side of a synced entity: read back, visibility, idempotent creation,
freshness.

Tasks, purchases, receipts and checklist items are synced rows that the
dashboard also reads and writes over REST. What those features share is
here, once, on plain values (a `Principal`, ids, JSON fields; never a web
request):

- `load_visible`: the row as JSON if `who` may see it: it exists, is not
  deleted, and its task (the entity registry's `hangs_off`) is in their
  `Scope` (syncd/sync/scope.py, the one scope rule); otherwise the entity's
  own 404, which does not tell the row exists;
- `RestEntities.read`: the same in a tenant unit of work of its own;
- `RestEntities.create`: a write through the one door (`RestWrites`, a unit
  of change) by the client's id; the same id and values again answer the
  stored row (`created` False), other values or a deleted row the entity's
  409;
- `RestEntities.fresh`: the check that a row is visible and unchanged since
  it was read (`If-Match`: 412 with the current row and its `ETag`;
  `updated_at`: 409).

Each feature words its refusals in a `Refusals` (one template per entity,
as the nouns' genders differ in Arabic) and says how a row is shown in a
conflict's `current`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.changes import Op
from protocol.entities import ENTITIES, Geo
from storage import sync_store as store
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.sync.scope import Scope
from syncd.sync.writes import Check, RestWrites
from syncd.web.problems import Problem

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refusals:
    """The problems of one entity's REST answers, each worded for it.

    An entity without `taken` lets a create write over the row already under
    its id (the checklist's add is an upsert by id); one without `stale`
    takes no `If-Match` or `updated_at`."""

    missing: Callable[[object], Problem]  # row id -> 404
    deleted: Callable[[object], Problem] | None = None  # row id -> 409: a deleted row's id
    taken: Callable[[object, Row], Problem] | None = None  # row id, current (shown) -> 409
    stale: Callable[[Row, str], Problem] | None = None  # current (shown), its ETag -> 412
    stale_updated_at: Callable[[Row], Problem] | None = None  # current (shown) -> 409


@dataclass(frozen=True, slots=True)
class RestEntity:
    """One synced entity as REST serves it."""

    entity: str
    refusals: Refusals
    shown: Callable[[Row], Row] = dict  # a row as a conflict's `current` shows it


class _AlreadyThere(Exception):
    """Creation found the same row already stored (an idempotent re-post)."""


def etag(row: Row) -> str:
    """The row's entity tag: its version in the tenant's change log."""
    return f'"{row["version"]}"'


def if_match_holds(if_match: str | None, current: str) -> bool:
    if if_match is None:
        return True
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return "*" in tags or current in tags


def instant(value: Any) -> datetime:
    """A stored time (a datetime, or its JSON text) as a datetime."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def visible(
    session: AsyncSession,
    who: Principal,
    kind: RestEntity,
    row_id: uuid.UUID,
    current: Row | None,
    *,
    within: uuid.UUID | None = None,
    scope: Scope | None = None,
) -> Row:
    """`current` (JSON) if `who` sees it, else the entity's 404; `within`: the
    task the row must hang off (the task in the path); `scope`: who's, if
    already loaded in `session`."""
    if current is None or current["deleted_at"] is not None:
        raise kind.refusals.missing(row_id)
    task_id = ENTITIES[kind.entity].task_of(row_id, current)
    if within is not None and task_id != within:
        raise kind.refusals.missing(row_id)
    if scope is None:
        scope = await Scope.load(session, who)
    if not scope.sees_task(task_id):
        raise kind.refusals.missing(row_id)
    return current


async def load_visible(
    session: AsyncSession,
    who: Principal,
    kind: RestEntity,
    row_id: uuid.UUID,
    *,
    scope: Scope | None = None,
) -> Row:
    """The row as JSON, read in `session`, if `who` sees it; else the entity's 404."""
    row = (await store.load_rows(session, kind.entity, [row_id])).get(row_id)
    current = None if row is None else store.row_to_json(kind.entity, row)
    return await visible(session, who, kind, row_id, current, scope=scope)


class RestEntities:
    """Reads and writes of synced rows for the REST features."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], writes: RestWrites) -> None:
        self.sessions = sessions
        self.writes = writes

    async def read(self, who: Principal, kind: RestEntity, row_id: uuid.UUID) -> Row:
        """The row as JSON if `who` sees it (its own tenant unit of work)."""
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            return await load_visible(uow.session, who, kind, row_id)

    async def create(
        self,
        who: Principal,
        kind: RestEntity,
        row_id: uuid.UUID,
        fields: Row,
        *,
        parent: tuple[RestEntity, uuid.UUID] | None = None,
        client_time: datetime | None = None,
        geo: Geo | None = None,
        then: Check | None = None,
    ) -> tuple[Row, bool]:
        """Create the row with the client's id; answers the row (JSON) and whether
        it was made now.

        `parent`: the row the path names above this one (a checklist item's
        task), which `who` must see. The same id with the same values again
        writes nothing; another row under the id is the entity's 409 (unless
        the entity has no `taken` refusal: then the create writes over it).
        `then` checks a new row further (its references) before it is written."""
        refusals = kind.refusals
        found: list[Row] = []

        async def check(session: AsyncSession, current: Row | None) -> None:
            if parent is not None:
                await load_visible(session, who, *parent)
            if current is None:
                if then is not None:
                    await then(session, current)
                return
            found.append(current)
            if refusals.taken is None:
                return
            if current["deleted_at"] is None and all(
                current.get(name) == value for name, value in fields.items()
            ):
                raise _AlreadyThere
            if current["deleted_at"] is not None and refusals.deleted is not None:
                raise refusals.deleted(row_id)
            raise refusals.taken(row_id, kind.shown(current))

        try:
            row = await self.writes.write(
                who,
                kind.entity,
                row_id,
                Op.UPSERT,
                fields=fields,
                client_time=client_time,
                geo=geo,
                check=check,
            )
        except _AlreadyThere:
            return found[-1], False
        return row, not found

    def fresh(
        self,
        who: Principal,
        kind: RestEntity,
        row_id: uuid.UUID,
        if_match: str | None = None,
        updated_at: datetime | None = None,
        *,
        parent: tuple[RestEntity, uuid.UUID] | None = None,
    ) -> Check:
        """The check that the row is visible to `who` (under `parent`, the row the
        path names above it) and unchanged since it was read."""
        refusals = kind.refusals

        async def check(session: AsyncSession, current: Row | None) -> None:
            scope = await Scope.load(session, who)
            within = None
            if parent is not None:
                await load_visible(session, who, *parent, scope=scope)
                within = parent[1]
            found = await visible(session, who, kind, row_id, current, within=within, scope=scope)
            if refusals.stale is not None and not if_match_holds(if_match, etag(found)):
                raise refusals.stale(kind.shown(found), etag(found))
            if (
                refusals.stale_updated_at is not None
                and updated_at is not None
                and instant(found["updated_at"]) != updated_at
            ):
                raise refusals.stale_updated_at(kind.shown(found))

        return check
