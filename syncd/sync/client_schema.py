"""A client's app schema at the sync doors (protocol/versions.py).

`accept` reads the `schema` a push, a pull or a `/sync/ws` hello names
(absent: the oldest, 1) and refuses one this server does not know
(`unknown_schema`, 422) or one below the minimum it still serves
(`client_upgrade_required`, 426, with the minimum; 4426 on a socket).
`shape_changes` takes a page of pulled changes down to an older schema: it
is called where pages are made for a reader (pull, the live feed's frames,
a push answer's `current` rows), once per page, and leaves pages of the
current schema as they are (on PostgreSQL, the database's own JSON).
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from protocol import versions
from protocol.entities import ENTITIES
from syncd.i18n import Msg
from syncd.web.problems import Problem, ValidationFailed


class ClientUpgradeRequired(Problem):
    status = 426
    code = "client_upgrade_required"
    title = "This app is too old to sync; update it"


class UnknownSchema(ValidationFailed):
    code = "unknown_schema"
    title = "The server does not know this schema"


def accept(raw: Any, minimum: int) -> int:
    """The client's schema, or the problem refusing it."""
    schema = versions.OLDEST if raw is None else raw
    try:
        versions.check(schema)
    except versions.UnknownSchema:
        raise UnknownSchema(
            Msg(
                "schema must be an integer from {oldest} to {current}",
                oldest=versions.OLDEST,
                current=versions.CURRENT,
            ),
            errors=[{"field": "schema", "code": "unknown_schema", "message": str(raw)[:40]}],
            extra={"current_schema": versions.CURRENT},
        ) from None
    if schema < minimum:
        raise ClientUpgradeRequired(
            Msg(
                "schema {schema} is older than the oldest this server serves, {minimum}: "
                "update the app",
                schema=schema,
                minimum=minimum,
            ),
            extra={
                "schema": schema,
                "minimum_schema": minimum,
                "current_schema": versions.CURRENT,
            },
        )
    return int(schema)


def query_schema(text: str | None) -> Any:
    """A query string's `schema` as the number it names (other text is kept, and refused)."""
    if text is None:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) < 6 else text


def shape_changes(changes: list[Any], schema: int) -> list[Any]:
    """Pulled changes as app schema `schema` sees them (unchanged for the current one)."""
    if schema >= versions.CURRENT:
        return changes
    needles = _needles(schema)
    return [shape_change(change, schema, needles) for change in changes]


@functools.cache
def _needles(schema: int) -> tuple[bytes, ...]:
    """The JSON keys of every field `schema` does not know, as bytes."""
    names = {name for entity in ENTITIES for name in versions.unknown_at(entity, schema)}
    return tuple(orjson.dumps(name) + b":" for name in sorted(names))


def shape_change(change: Any, schema: int, needles: tuple[bytes, ...] = ()) -> Any:
    """One pulled change for an older schema. A JSON fragment (PostgreSQL's own
    text) naming none of the fields to drop is sent as it is; another is read
    back and shaped."""
    if not isinstance(change, dict) or not isinstance(change.get("data"), dict):
        text = orjson.dumps(change)
        if needles and not any(needle in text for needle in needles):
            return change
        change = orjson.loads(text)
    entity = change.get("entity")
    if not isinstance(entity, str) or not versions.shapes(entity, schema):
        return change
    return {**change, "data": versions.shape_row(entity, change["data"], schema)}


def shape_result(result: dict[str, Any], entity: str | None, schema: int) -> dict[str, Any]:
    """A push result whose `current` row is shaped for an older schema."""
    current = result.get("current")
    if entity is None or current is None or not versions.shapes(entity, schema):
        return result
    return {**result, "current": versions.shape_row(entity, current, schema)}
