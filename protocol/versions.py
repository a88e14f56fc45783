"""Schema versions: what older apps know of each entity, and how to speak to them.

An app declares one schema number for all entities (`schema` in a push, a
pull and the `/sync/ws` hello; absent means 1, the oldest). Each app schema
after the first is a list of `Step`s, one per entity it changed; an entity's
own version is 1 plus the steps it has had up to that schema, so entities an
app schema leaves alone keep their number.

A step declares, for its entity:

- `added`: the fields the new version knows and the old one does not;
- `upcast`: a pure function from an old version's change (its `fields`) to
  the new version's; the default keeps it as it is, which, with per-field
  merging, leaves every added field untouched on the row;
- `shape_down`: a pure function from a row of the new version (its pulled
  `data`) to the old version's; the default drops the added fields (a step
  may fold them into an old field instead).

`upcast_change` takes an old app's change up to the current schema before it
is validated and merged; `shape_row` takes a current row down to an old
app's schema before it is sent. Both refuse nothing they were not told to:
a change naming a field its version does not know raises `UnknownFields`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Fields = dict[str, Any]


def _same(values: Mapping[str, Any]) -> Fields:
    return dict(values)


@dataclass(frozen=True, slots=True)
class Step:
    """What app schema `schema` changed in `entity`, from the schema before it."""

    entity: str
    schema: int
    added: frozenset[str] = frozenset()
    upcast: Callable[[Mapping[str, Any]], Fields] = _same
    shape_down: Callable[[Mapping[str, Any]], Fields] | None = None
    note: str = field(default="", compare=False)

    def down(self, data: Mapping[str, Any]) -> Fields:
        """A row of this step's version as the version before it sees it."""
        if self.shape_down is not None:
            return self.shape_down(data)
        return {k: v for k, v in data.items() if k not in self.added}


# Schema 2: a task's visit window. Version 1 apps know `due_at` (when the job
# must be done) but not when the visit is booked; they neither see nor write it.
STEPS: tuple[Step, ...] = (
    Step(
        "task",
        2,
        added=frozenset({"scheduled_start", "scheduled_end"}),
        note="the visit's booked window (UTC), end never before start",
    ),
)

OLDEST = 1
CURRENT = max((step.schema for step in STEPS), default=OLDEST)


class UnknownSchema(ValueError):
    """A schema number this server does not have (newer than it, or not one)."""


class UnknownFields(ValueError):
    """An old app's change names fields its schema does not have."""

    def __init__(self, entity: str, schema: int, names: list[str]) -> None:
        super().__init__(f"schema {schema} has no {entity} field {', '.join(names)}")
        self.entity, self.schema, self.names = entity, schema, names


def check(schema: int) -> int:
    """`schema` if this server knows it; UnknownSchema otherwise."""
    if isinstance(schema, bool) or not isinstance(schema, int) or not OLDEST <= schema <= CURRENT:
        raise UnknownSchema(f"schema must be an integer from {OLDEST} to {CURRENT}")
    return schema


@functools.cache
def steps_of(entity: str, after: int, upto: int = CURRENT) -> tuple[Step, ...]:
    """The steps of `entity` in schemas after `after` up to `upto`, in order."""
    return tuple(s for s in STEPS if s.entity == entity and after < s.schema <= upto)


def entity_version(entity: str, schema: int) -> int:
    """The entity's own version number in app schema `schema` (1 for its first)."""
    return 1 + len(steps_of(entity, OLDEST, schema))


@functools.cache
def unknown_at(entity: str, schema: int) -> frozenset[str]:
    """The current fields of `entity` that app schema `schema` does not know."""
    names: set[str] = set()
    for step in steps_of(entity, schema):
        names |= step.added
    return frozenset(names)


def upcast_change(change: Mapping[str, Any], schema: int) -> dict[str, Any]:
    """A raw change of app schema `schema`, as the current schema writes it.

    Only an upsert's `fields` (and their `field_hlc`) have a shape; other
    changes pass through. A field the schema does not know raises
    UnknownFields (an old app cannot mean it)."""
    fields = change.get("fields")
    if schema >= CURRENT or change.get("op") != "upsert" or not isinstance(fields, dict):
        return dict(change)
    entity = str(change.get("entity"))
    strange = sorted(unknown_at(entity, schema) & fields.keys())
    if strange:
        raise UnknownFields(entity, schema, strange)
    for step in steps_of(entity, schema):
        fields = step.upcast(fields)
    out = {**change, "fields": fields}
    stamps = change.get("field_hlc")
    if isinstance(stamps, dict):
        out["field_hlc"] = {k: v for k, v in stamps.items() if k in fields}
    return out


def shape_row(entity: str, data: Mapping[str, Any], schema: int) -> dict[str, Any]:
    """A current row's `data` as app schema `schema` knows it."""
    out = dict(data)
    for step in reversed(steps_of(entity, schema)):
        out = step.down(out)
    return out


def shapes(entity: str, schema: int) -> bool:
    """Whether rows of `entity` look different to app schema `schema`."""
    return bool(steps_of(entity, schema))
