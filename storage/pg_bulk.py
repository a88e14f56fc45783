"""PostgreSQL: a batch of synced rows or log entries in one round trip.

A batch's rows go in as one `INSERT ... SELECT ... FROM ROWS FROM
(json_array_elements_text($2::json), ...)`, one JSON array per column written by orjson
in C, on the session's own connection (same transaction, same role and row-level
security); PostgreSQL casts each element to the column's type. The driver's own
array encoding checked every element in Python, and cost twice the time; one JSON
document of row objects (`json_to_recordset`) cost PostgreSQL more than it saved.
A column that holds one value in every row (the tenant, the batch's time, its user)
travels once, as a plain parameter. A `json` column keeps each element's exact text
(a log entry's `data` is the text `row_json` wrote).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.dialects import postgresql

from storage.models import Base


def json_default(value: Any) -> Any:
    """What orjson does not write itself: asyncpg's UUIDs (a subclass of UUID)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


@functools.cache
def _pg_types(table_name: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    table = Base.metadata.tables[table_name]
    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    return tuple(table.columns[key].type.compile(dialect=dialect).split("(")[0] for key in keys)


_JSON_TYPES = frozenset({"JSON", "JSONB"})


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=json_default, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


async def insert_columns(
    connection: Any,
    tenant_id: uuid.UUID,
    table: Any,
    keys: list[str],
    rows: Sequence[dict[str, Any]],
    *,
    upsert: bool,
    same: dict[str, Any] | None = None,
    written: tuple[str, ...] = (),
) -> None:
    """Insert (or upsert) `rows` of the tenant in one statement on the asyncpg
    `connection` (the session's own: same transaction, role and row-level
    security); `same` gives columns every row
    shares that the rows themselves leave out; `written` names JSON columns whose
    values come as JSON text already (kept as they are)."""
    shared = {"tenant_id": tenant_id, **(same or {})}
    keys = [*shared, *[key for key in keys if key not in shared]]
    types = _pg_types(table.name, tuple(keys))
    params: list[Any] = []
    selected: list[str] = []
    arrays: list[str] = []  # (the columns' arrays and their names in ROWS FROM)
    aliases: list[str] = []
    for key, kind in zip(keys, types, strict=True):
        column = [shared[key]] if key in shared else [row.get(key) for row in rows]
        is_json = kind in _JSON_TYPES
        first = column[0]
        # One value for all: pass it once (the second row's value rules most columns out).
        if len(column) == 1 or (column[1] == first and column.count(first) == len(column)):
            if is_json and first is not None and key not in written:
                first = _dumps(first).decode()
            params.append(first)
            selected.append(f"${len(params)}::{kind}")
            continue
        if key in written:  # JSON texts already: one array of them, as they are
            params.append("[" + ",".join("null" if t is None else t for t in column) + "]")
        else:
            params.append(_dumps(column).decode())
        n = len(params)
        aliases.append(f'"{key}"')
        if is_json:  # each value's exact text; JSON null is SQL NULL, as None was
            arrays.append(f"json_array_elements(${n}::json)")
            selected.append(f"nullif(u.\"{key}\"::text, 'null')::{kind}")
        else:
            arrays.append(f"json_array_elements_text(${n}::json)")
            selected.append(f'u."{key}"::{kind}')
    names = ", ".join(f'"{key}"' for key in keys)
    # Names and types come from the table's own definition, never from input.
    sql = f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(selected)}'
    if arrays:
        sql += f" FROM ROWS FROM ({', '.join(arrays)}) AS u({', '.join(aliases)})"
    if upsert:
        updates = ", ".join(
            f'"{key}" = EXCLUDED."{key}"' for key in keys if key not in ("tenant_id", "id")
        )
        sql += f" ON CONFLICT (tenant_id, id) DO UPDATE SET {updates}"
    await connection.execute(sql, *params)
