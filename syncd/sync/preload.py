"""Load, in one query per entity, every row a batch of changes will read.

The rows the changes name, the rows their reference fields name (tasks,
purchases, media), and the task of each purchase loaded (a receipt that
leaves out its task takes its purchase's). A row that does not exist is
recorded as None, so nothing is read twice.
"""

from __future__ import annotations

import uuid

from protocol.changes import Change
from protocol.entities import ENTITIES
from storage import sync_store as store
from syncd.sync.batch import Batch
from syncd.sync.unit import UnitOfChange


async def preload(unit: UnitOfChange, changes: list[Change]) -> None:
    batch = unit.batch
    wanted: dict[str, set[uuid.UUID]] = {}
    for change in changes:
        spec = ENTITIES.get(change.entity)
        if spec is None:
            continue
        wanted.setdefault(spec.name, set()).add(change.id)
        for reference, row_id in spec.referenced(change.fields):
            wanted.setdefault(reference.entity, set()).add(row_id)
    await _load(unit, batch, wanted)
    # A receipt may leave out its task: it is its purchase's, loaded just now.
    tasks_of_purchases = {
        row["task_id"]
        for (entity, _), row in batch.rows.items()
        if entity == "purchase" and row is not None and row.get("task_id") is not None
    } - {row_id for (entity, row_id) in batch.rows if entity == "task"}
    if tasks_of_purchases:
        await _load(unit, batch, {"task": tasks_of_purchases})


async def _load(unit: UnitOfChange, batch: Batch, wanted: dict[str, set[uuid.UUID]]) -> None:
    for entity, ids in wanted.items():
        ids = {row_id for row_id in ids if (entity, row_id) not in batch.rows}
        if not ids:
            continue
        found = await store.load_rows(unit.session, entity, ids)
        for row_id in ids:
            batch.rows[(entity, row_id)] = found.get(row_id)
