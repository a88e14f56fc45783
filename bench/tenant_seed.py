"""Seed a large tenant fast, with rows exactly like the ones syncd writes.

Pushing 100,000 tasks and their assignments through the API would take the
benchmark longer than the measurement, so syncd writes one task and its
assignment (the template: two pushes through the API), `capture` reads back
every row those pushes wrote (the task, its timeline entries, its assignment,
their change-log entries with `task_id`), and `seed` writes N copies with raw
SQL under the tenant role: new ids for the task and everything hanging off
it, each copy assigned to a technician of the fleet, versions in the order
syncd would have given them (all creations first, as pushed in batches, then
all assignments). Ids and versions are rewritten wherever they occur: key
columns, `version` columns, and inside the JSON of rows, clocks and log
entries (`"version": n`, `"v": n`), and so is the task's job number (each
copy takes the tenant's next, `JOB-000123`, and the counter ends past the
last). Everything else (timestamps, the admin as
author, the device's client id) stays the template's.

Not copied: push_batches and device rows (bookkeeping of pushes, which no pull
reads).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from push_floor import TENANT_ROLE, Table, describe

SEEDED = ("tasks", "task_events", "task_assignments", "change_log")
CHUNK = 10_000  # rows per statement
COPIES_AT_ONCE = 2_000  # copies rendered before they are written (bounds the memory)
_SLOTS = re.compile(
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<key>\"(?:version|v)\"\s*:\s*)(?P<version>\d+)"
)


class Text:
    """A text value cut at the ids and versions it holds, to render copies fast."""

    def __init__(self, text: str, ids: set[str], versions: set[int]) -> None:
        self.parts: list[str | tuple[str, Any]] = []
        at = 0
        for found in _SLOTS.finditer(text):
            if found["id"] is not None and found["id"] in ids:
                self.parts += [text[at : found.start()], ("id", found["id"])]
            elif found["version"] is not None and int(found["version"]) in versions:
                self.parts += [text[at : found.start("version")], ("v", int(found["version"]))]
            else:
                continue
            at = found.end()
        self.parts.append(text[at:])

    @property
    def constant(self) -> bool:
        return len(self.parts) == 1

    def render(self, ids: dict[str, str], versions: dict[int, int]) -> str:
        return "".join(
            part
            if isinstance(part, str)
            else ids[part[1]]
            if part[0] == "id"
            else str(versions[part[1]])
            for part in self.parts
        )


@dataclass
class Template:
    """The rows syncd wrote for one task created then assigned."""

    tables: dict[str, Table]
    rows: dict[str, list[tuple[Any, ...]]]
    ids: set[uuid.UUID]  # the task's, its events', its assignment's
    technician: uuid.UUID
    phases: list[tuple[int, int]]  # (low, high] versions of the creation, the assignment

    def version_of(self) -> dict[int, tuple[int, int]]:
        """Each template version: its phase and its offset in the phase."""
        return {
            v: (p, v - low - 1)
            for p, (low, high) in enumerate(self.phases)
            for v in range(low + 1, high + 1)
        }


async def capture(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    task_id: uuid.UUID,
    technician: uuid.UUID,
    phases: list[tuple[int, int]],
) -> Template:
    """Every row the template's pushes wrote (versions in `phases`)."""
    tables = {name: await describe(conn, name) for name in SEEDED}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for name, table in tables.items():
        where = "id = $2" if name == "tasks" else "task_id = $2"
        found = await conn.fetch(
            f"SELECT {', '.join(table.columns)} FROM {name}"
            f" WHERE tenant_id = $1 AND {where} ORDER BY version",
            tenant_id,
            task_id,
        )
        rows[name] = [tuple(r) for r in found]
    logged = {r[tables["change_log"].columns.index("version")] for r in rows["change_log"]}
    expected = {v for low, high in phases for v in range(low + 1, high + 1)}
    if logged != expected:
        raise RuntimeError(f"the template's log holds versions {logged}, not {expected}")
    ids = {task_id} | {r[tables[n].columns.index("id")] for n in SEEDED[1:3] for r in rows[n]}
    return Template(tables, rows, ids, technician, phases)


class Copier:
    """Renders copy `i` of each template row."""

    def __init__(self, template: Template, first_version: int, copies: int) -> None:
        self.template = template
        self.phase_of = template.version_of()
        sizes = [high - low for low, high in template.phases]
        self.bases = [first_version + copies * sum(sizes[:p]) for p in range(len(sizes))]
        self.sizes = sizes
        self.last_version = first_version + copies * sum(sizes)
        # The template task's job number; copy i takes the tenant's next one after it.
        tasks = template.tables["tasks"]
        self.job = str(template.rows["tasks"][0][tasks.columns.index("job_number")])
        self.first_job = int(self.job.removeprefix("JOB-"))
        self.last_job = self.first_job + copies
        text_ids = {str(i) for i in template.ids | {template.technician}}
        self.columns: dict[str, list[Any]] = {}
        for name, table in template.tables.items():
            self.columns[name] = [
                [self.kind(table, c, row[c], text_ids) for c in range(len(table.columns))]
                for row in template.rows[name]
            ]

    def kind(self, table: Table, column: int, value: Any, text_ids: set[str]) -> Any:
        if isinstance(value, uuid.UUID) and (
            value in self.template.ids or value == self.template.technician
        ):
            return ("uuid", value)
        if table.columns[column] == "version" and isinstance(value, int):
            return ("version", value)
        if table.columns[column] == "job_number":
            return ("job", value)
        if isinstance(value, str):
            text = Text(value, text_ids, set(self.phase_of))
            return value if text.constant else ("text", text)
        return value

    def copy(self, index: int, owner: uuid.UUID, into: dict[str, list[tuple[Any, ...]]]) -> None:
        """Append copy `index` (assigned to `owner`) of every template row to `into`."""
        ids = {i: uuid.uuid4() for i in self.template.ids}
        ids[self.template.technician] = owner
        texts = {str(k): str(v) for k, v in ids.items()}
        versions = {
            v: self.bases[p] + index * self.sizes[p] + offset + 1
            for v, (p, offset) in self.phase_of.items()
        }
        job = f"JOB-{self.first_job + index + 1:06d}"
        for name, template_rows in self.columns.items():
            out = into.setdefault(name, [])
            for template_row in template_rows:
                row = []
                for cell in template_row:
                    if not isinstance(cell, tuple):
                        row.append(cell)
                    elif cell[0] == "uuid":
                        row.append(ids[cell[1]])
                    elif cell[0] == "version":
                        row.append(versions[cell[1]])
                    elif cell[0] == "job":
                        row.append(job)
                    else:
                        row.append(cell[1].render(texts, versions).replace(self.job, job))
                out.append(tuple(row))


async def insert(conn: asyncpg.Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(table.types))
    sql = f"INSERT INTO {table.name} ({', '.join(table.columns)}) SELECT * FROM unnest({arrays})"
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        await conn.execute(sql, *(list(col) for col in zip(*chunk, strict=True)))


async def seed(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    template: Template,
    owners: list[uuid.UUID],
    first_version: int,
) -> int:
    """A copy of the template for each owner in `owners` (a technician per task),
    versions from `first_version` on; answers the tenant's version after."""
    copier = Copier(template, first_version, len(owners))
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)",
            TENANT_ROLE,
            str(tenant_id),
        )
        for start in range(0, len(owners), COPIES_AT_ONCE):
            rows: dict[str, list[tuple[Any, ...]]] = {}
            for index in range(start, min(start + COPIES_AT_ONCE, len(owners))):
                copier.copy(index, owners[index], rows)
            for name in SEEDED:  # parents first: the foreign keys hold
                await insert(conn, template.tables[name], rows[name])
        await conn.execute(
            "UPDATE tenant_versions SET version = $2, job_number = $3 WHERE tenant_id = $1",
            tenant_id,
            copier.last_version,
            copier.last_job,
        )
    for name in SEEDED:
        await conn.execute(f"ANALYZE {name}")
    return copier.last_version
