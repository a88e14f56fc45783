"""Persistence for sync's writes: the entities' tables, their rows as JSON values,
rows loaded and written in bulk, log entries appended (reads of the log and of
rows are storage.log_reads'; PostgreSQL's one-statement batches
storage.pg_bulk's; the counter, push batches and devices storage.sync_ledger's). Every
function takes a tenant-bound session (storage.unit_of_work.TenantUnitOfWork)
and never a tenant id.

Rows cross this boundary as plain dicts of JSON values (ISO 8601 datetimes,
UUIDs as strings), the same shape devices receive in `data`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Uuid, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from storage.models import (
    ChangeLogEntry,
    MediaAsset,
    Purchase,
    Receipt,
    Task,
    TaskAssignment,
    TaskEvent,
)
from storage.models.tasks import ChecklistItem
from storage.pg_bulk import insert_columns, json_default
from storage.types import UTCDateTime, utcnow

MODELS: dict[str, type[DeclarativeBase]] = {
    "task": Task,
    "task_assignment": TaskAssignment,
    "task_event": TaskEvent,
    "purchase": Purchase,
    "receipt": Receipt,
    "media_asset": MediaAsset,
    "checklist_item": ChecklistItem,
}
SNAPSHOT_ORDER: tuple[str, ...] = tuple(MODELS)
HIDDEN_COLUMNS = frozenset({"tenant_id", "field_clocks"})


def _table(entity: str) -> Any:
    return MODELS[entity].__table__


# Per entity, what the converters below need of its columns, worked out once: they
# run for every row of every push and pull.


@functools.cache
def _visible_keys(entity: str) -> tuple[str, ...]:
    return tuple(c.key for c in _table(entity).columns if c.key not in HIDDEN_COLUMNS)


@functools.cache
def _parsers(entity: str) -> dict[str, Any]:
    """key -> a parser of its JSON text form (None: the JSON value is the column value)."""
    parsers: dict[str, Any] = {}
    for column in _table(entity).columns:
        if isinstance(column.type, UTCDateTime):
            parsers[column.key] = _parse_datetime
        elif isinstance(column.type, Uuid):
            parsers[column.key] = uuid.UUID
        else:
            parsers[column.key] = None
    return parsers


@functools.cache
def _defaults(entity: str) -> tuple[tuple[str, Any, bool], ...]:
    """(key, default, whether the default is a callable) of every column but tenant_id."""
    found = []
    for column in _table(entity).columns:
        if column.key == "tenant_id":
            continue
        default = column.default
        if default is None:
            found.append((column.key, None, False))
        elif not default.is_callable:
            found.append((column.key, default.arg, False))
        else:
            found.append((column.key, _factory(default.arg), True))
    return tuple(found)


def _factory(wrapped: Any) -> Any:
    """A column's default factory, unwrapped from SQLAlchemy's context-taking
    wrapper where it is one of ours (fresh containers, the time: `_NOW`)."""
    sample = wrapped(None)
    if type(sample) in (dict, list):
        fresh = type(sample)
        return lambda _context: fresh()
    if isinstance(sample, datetime):
        return _NOW
    return wrapped


def _NOW(_context: Any) -> datetime:  # a marker as much as a function
    return utcnow()


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _LastTime:
    """The text of the last datetime formatted: a batch's rows share one time."""

    value: datetime | None = None
    text = ""


def row_to_json(entity: str, row: Any) -> dict[str, Any]:
    """A row (ORM mapping) as the JSON `data` devices receive."""
    data: dict[str, Any] = {}
    last = _LastTime
    for key in _visible_keys(entity):
        value = row[key]
        kind = type(value)
        if kind is str or value is None:
            pass
        elif kind is datetime:
            if value is not last.value:
                last.text, last.value = value.isoformat().replace("+00:00", "Z"), value
            value = last.text
        elif isinstance(value, uuid.UUID):  # asyncpg hands back a subclass of its own
            value = _uuid_text(value)
        data[key] = value
    return data


# The text of the UUIDs formatted lately, by identity: a batch's rows name one user,
# and a new row's id again in its timeline entry and its answer.
_uuid_texts: dict[int, tuple[uuid.UUID, str]] = {}


def _uuid_text(value: uuid.UUID) -> str:
    """`str(value)`, remembered by identity."""
    known = _uuid_texts.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    if len(_uuid_texts) >= 4096:
        _uuid_texts.clear()
    text = str(value)
    _uuid_texts[id(value)] = (value, text)
    return text


uuid_text = _uuid_text


def remember_uuid_text(value: uuid.UUID, text: str) -> None:
    """Note that `str(value) == text` (an id read from its canonical text)."""
    if len(_uuid_texts) >= 4096:
        _uuid_texts.clear()
    _uuid_texts[id(value)] = (value, text)


def values_to_json(entity: str, row: Any, names: Iterable[str]) -> dict[str, Any]:
    """The values of the visible columns `names` of a row, as `row_to_json` gives them."""
    visible = _visible_set(entity)
    data: dict[str, Any] = {}
    for key in names:
        if key not in visible:
            continue
        value = row[key]
        kind = type(value)
        if kind is datetime:
            value = value.isoformat().replace("+00:00", "Z")
        elif value is not None and kind is not str and isinstance(value, uuid.UUID):
            value = str(value)
        data[key] = value
    return data


@functools.cache
def _visible_set(entity: str) -> frozenset[str]:
    return frozenset(_visible_keys(entity))


def json_to_row(entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON values back to column values (datetimes and UUIDs parsed)."""
    row: dict[str, Any] = {}
    parsers = _parsers(entity)
    for key, value in data.items():
        if key not in parsers:
            continue
        parse = parsers[key]
        row[key] = parse(value) if parse is not None and type(value) is str else value
    return row


def put_values(entity: str, row: dict[str, Any], data: Mapping[str, Any]) -> None:
    """`row.update(json_to_row(entity, data))`, without the dict between."""
    parsers = _parsers(entity)
    for key, value in data.items():
        if key in parsers:
            parse = parsers[key]
            row[key] = parse(value) if parse is not None and type(value) is str else value


def new_row(entity: str, now: datetime) -> dict[str, Any]:
    """A row of `entity` holding every column's Python-side default (time
    defaults: `now`, so a batch stamps its rows with one time), in the order of
    the table's columns."""
    template, fresh, timed = _new_row_parts(entity)
    row = template.copy()
    for key, make in fresh:
        row[key] = make(None)
    for key in timed:
        row[key] = now
    return row


def in_column_order(entity: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a stored row with its columns in the order `new_row` gives them
    (the database's order may differ: a column a migration added comes last);
    a row without every column is copied as it is."""
    ordered = _new_row_parts(entity)[0].copy()
    ordered.update(row)
    return ordered if len(ordered) == len(row) else dict(row)


@functools.cache
def _new_row_parts(
    entity: str,
) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...], tuple[str, ...]]:
    """(every column with its constant default, or None for the rest, in order;
    (key, factory) of the rest; keys that default to the time)."""
    template: dict[str, Any] = {}
    fresh: list[tuple[str, Any]] = []
    timed: list[str] = []
    for key, default, is_callable in _defaults(entity):
        template[key] = None
        if default is _NOW:
            timed.append(key)
        elif is_callable:
            fresh.append((key, default))
        else:
            template[key] = default
    return template, tuple(fresh), tuple(timed)


async def load_rows(
    session: AsyncSession, entity: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Current rows by id, as column dicts including `field_clocks`."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    model: Any = MODELS[entity]
    found: dict[uuid.UUID, dict[str, Any]] = {}
    if session.get_bind().dialect.name == "postgresql":
        # A primary-key probe per id, whatever the statistics say: a LATERAL
        # subquery with a LIMIT is never flattened into a join. (An `IN` list of
        # 500 parameters, `id = ANY($2)` under a generic plan, and a plain join to
        # the array, planned as a hash join over the whole tenant while the table's
        # statistics lagged behind its growth, all read every row of the tenant.)
        table = model.__table__
        drv = await driver_connection(session)
        rows = await drv.fetch(
            "SELECT t.* FROM unnest($2::uuid[]) AS w(id) CROSS JOIN LATERAL"  # noqa: S608
            f' (SELECT * FROM "{table.name}" AS r WHERE r.tenant_id = $1 AND r.id = w.id'
            " LIMIT 1) AS t",
            tenant_of(session),
            wanted,
        )
        for record in rows:
            loaded = dict(record)
            loaded["id"] = uuid.UUID(bytes=loaded["id"].bytes)
            found[loaded["id"]] = loaded
        return found
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = await session.execute(select(model.__table__).where(model.id.in_(chunk)))
        for row in result.mappings():
            found[row["id"]] = dict(row)
    return found


async def upsert_rows(session: AsyncSession, entity: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update whole rows in one statement per batch (keyed by tenant and id)."""
    if not rows:
        return
    model: Any = MODELS[entity]
    # The tenant is the session's (stamped by wall 1 or sent once), never a row's:
    # a batch mixing loaded rows (which carry it) and new ones (which do not) is one shape.
    columns = set(model.__table__.columns.keys()) - {"tenant_id"}
    keys = sorted(set().union(*rows) & columns)
    if session.get_bind().dialect.name == "postgresql":
        await insert_columns(
            await driver_connection(session),
            tenant_of(session),
            model.__table__,
            keys,
            rows,
            upsert=True,
        )
        return
    statement = sqlite.insert(model)
    updates = {key: statement.excluded[key] for key in keys if key not in ("tenant_id", "id")}
    statement = statement.on_conflict_do_update(index_elements=["tenant_id", "id"], set_=updates)
    filled = [{key: row.get(key) for key in keys} for row in rows]
    await session.execute(statement, filled)


async def append_log(session: AsyncSession, entries: Sequence[dict[str, Any]]) -> None:
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        table = ChangeLogEntry.__table__
        keys = sorted(set().union(*entries) & set(table.columns.keys()))
        same = {} if "created_at" in keys else {"created_at": utcnow()}
        # `data` comes as JSON text (`row_json`), kept verbatim in the `json` column.
        await insert_columns(
            await driver_connection(session),
            tenant_of(session),
            table,
            keys,
            entries,
            upsert=False,
            same=same,
            written=("data",),
        )
        return
    rows = [{**entry, "data": orjson.loads(entry["data"])} for entry in entries]
    await session.execute(insert(ChangeLogEntry), rows)


def row_json(entity: str, row: Mapping[str, Any]) -> str:
    """`orjson.dumps(row_to_json(entity, row)).decode()`, written in one step (as
    text: keeping many of orjson's bytes alive costs far more than decoding them)."""
    keys = _visible_keys(entity)
    data = row
    if "field_clocks" in row or "tenant_id" in row:
        data = dict(row)
        data.pop("field_clocks", None)
        data.pop("tenant_id", None)
    if tuple(data) != keys:  # other keys, or another order (a row as the database held it)
        data = {key: row[key] for key in keys}
    written = orjson.dumps(data, default=json_default, option=orjson.OPT_UTC_Z)
    return written.decode()


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session (its transaction, role and settings)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def tenant_of(session: AsyncSession) -> uuid.UUID:
    """The tenant a tenant unit of work binds the session to."""
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, uuid.UUID):
        raise RuntimeError("sync storage needs a tenant unit of work")
    return tenant_id
