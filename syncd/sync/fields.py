"""Upserts and deletes: per-field last-writer-wins, tombstones, concurrent edits.

A change's fields are validated by the entity's rules (protocol/entities.py),
checked against the user's scope and against the rows they reference, then
merged into the row as it stands in the batch by protocol/merge.py. What
changed is staged with the next tenant version and logged; a new row of an
entity with a creation entry adds it to its task's timeline; a concurrent
edit or a delete against an update opens a conflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from protocol.changes import Change
from protocol.entities import EntitySpec, FieldErrors
from protocol.merge import (
    FieldClock,
    MergeResult,
    Outcome,
    RowState,
    Write,
    merge_delete,
    merge_upsert,
)
from storage import sync_store as store
from syncd.i18n import Msg
from syncd.sync import timeline
from syncd.sync.batch import Batch
from syncd.sync.conflicts import open_edit_conflict
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.refusals import (
    AppendOnly,
    InvalidChange,
    UnknownMedia,
    UnknownReference,
    forbidden,
    invalid,
    not_found,
)
from syncd.sync.unit import UnitOfChange, parse_stamp


def upsert(unit: UnitOfChange, spec: EntitySpec, change: Change) -> ChangeOutcome:
    batch = unit.batch
    row_id = change.id
    current = batch.rows.get((spec.name, row_id))
    creating = current is None
    try:
        clean = spec.validate(change.fields, creating=creating)
    except FieldErrors as exc:
        raise InvalidChange(str(exc), errors=exc.errors) from None
    if current is not None and spec.fixed:
        _keep_fixed(spec, clean, current)
    if change.field_hlc:
        _one_stamp(spec, change)
    if spec.name == "receipt":
        clean = _tie_to_purchase(batch, clean, current)
    # The task the row hangs off as it will stand (a field of `clean` over the row's).
    task_id = spec.task_of(
        row_id, clean if current is None or spec.task_field in clean else current
    )
    # A reference to no live row is named as such for every role (a technician
    # learns nothing new: the tenant's ids are theirs to name).
    if spec.references:
        check_references(batch, spec, clean)
    authorise(batch, spec, task_id, creating=creating)
    if spec.append_only and current is not None:
        return answer(batch, spec, row_id, Outcome.SUPERSEDED)
    state = None if current is None else _state_of_fields(spec.name, current, clean.keys())
    whole = unit.stamp(change)
    own = change.field_hlc
    if own:
        stamped = {
            name: (value, unit.stamp(change, name) if name in own else whole)
            for name, value in clean.items()
        }
    else:
        stamped = {name: (value, whole) for name, value in clean.items()}
    # Fields merged under a tombstone take no new version (nothing is logged).
    version = batch.version + (0 if state is not None and state.deleted else 1)
    result = merge_upsert(
        state, Write(batch.client_id, change.base_version, stamped), version, spec.guarded
    )
    return _record(batch, spec, change, result, task_id, current)


def delete(unit: UnitOfChange, spec: EntitySpec, change: Change) -> ChangeOutcome:
    batch = unit.batch
    current = batch.row(spec.name, change.id)
    if current is None:
        raise not_found(spec.name, change.id)
    if spec.append_only:
        raise AppendOnly(Msg("{entity} entries are never deleted", entity=spec.name))
    if spec.name == "task" and not batch.scope.is_whole_tenant:
        raise forbidden("technicians do not delete tasks")
    task_id = spec.task_of(change.id, current)
    authorise(batch, spec, task_id, creating=False)
    result = merge_delete(
        state_of(spec.name, current),
        unit.stamp(change),
        batch.client_id,
        change.base_version,
        batch.version + 1,
    )
    return _record(batch, spec, change, result, task_id, current)


def authorise(batch: Batch, spec: EntitySpec, task_id: uuid.UUID | None, *, creating: bool) -> None:
    """Refuse a change outside the user's scope (technicians: their tasks' rows)."""
    if batch.scope.is_whole_tenant:
        return
    if spec.name == "task" and creating:
        raise forbidden("technicians do not create tasks")
    if not batch.scope.sees_task(task_id):
        raise forbidden("the task is not assigned to you")


def check_references(batch: Batch, spec: EntitySpec, values: dict[str, Any]) -> None:
    """Every id a reference field names is a live row of the tenant."""
    for reference, row_id in spec.referenced(values):
        row = batch.row(reference.entity, row_id)
        if row is None or row.get("deleted_at") is not None:
            refusal = UnknownMedia if reference.entity == "media_asset" else UnknownReference
            raise refusal(
                Msg(
                    "{field} {id} names no live {entity}",
                    field=reference.field,
                    id=str(row_id),
                    entity=reference.entity,
                ),
                errors=[
                    {
                        "field": reference.field,
                        "code": refusal.code,
                        "message": Msg("no such {entity}", entity=reference.entity),
                    }
                ],
            )


def _keep_fixed(spec: EntitySpec, clean: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse a new value for a field set once, at creation (a row stays on its task)."""
    for name in spec.fixed & clean.keys():
        if current.get(name) is not None and str(clean[name]) != str(current[name]):
            raise invalid(
                Msg(
                    "{field} is set when the {entity} is created and never changes",
                    field=name,
                    entity=spec.name,
                ),
                name,
                "immutable",
                "delete the row and create it anew instead",
            )


def _one_stamp(spec: EntitySpec, change: Change) -> None:
    """Fields that are one value take one stamp, so the merge keeps them together."""
    if not change.field_hlc:  # one stamp for every field
        return
    for group in spec.together:
        stamps = {str(change.stamp_of(name)) for name in group & change.fields.keys()}
        if len(stamps) > 1:
            name = min(group)
            raise invalid(
                Msg("{fields} are one value and take one stamp", fields=", ".join(sorted(group))),
                name,
                "split_stamp",
                "stamp them with one hlc (or leave them out of field_hlc)",
            )


def _tie_to_purchase(
    batch: Batch, clean: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """A receipt belongs to its purchase's task (filled in when left out) and is in
    its purchase's currency."""
    ref = clean.get("purchase_id")
    purchase = batch.row("purchase", uuid.UUID(str(ref))) if ref else None
    if purchase is None:  # no purchase named here, or an unknown one (reported later)
        return clean
    task_id = purchase.get("task_id")
    if current is None and clean.get("task_id") is None and task_id is not None:
        clean = {**clean, "task_id": str(task_id)}
    errors = []
    if clean.get("task_id") is not None and str(clean["task_id"]) != str(task_id):
        errors.append(
            {"field": "task_id", "code": "task_mismatch", "message": "not the purchase's task"}
        )
    currency = clean.get("currency", (current or {}).get("currency"))
    if currency is not None and currency != purchase.get("currency"):
        errors.append(
            {
                "field": "currency",
                "code": "currency_mismatch",
                "message": Msg("the purchase is in {currency}", currency=purchase.get("currency")),
            }
        )
    if errors:
        raise InvalidChange("the receipt does not match its purchase", errors=errors)
    return clean


def _record(
    batch: Batch,
    spec: EntitySpec,
    change: Change,
    result: MergeResult,
    task_id: uuid.UUID | None,
    current: dict[str, Any] | None,
) -> ChangeOutcome:
    """Stage and log what the merge changed; `current` is the row as the batch held it."""
    conflict_id = None
    standing = current
    changed = result.changed
    if changed:
        state = result.state
        visible = state.deleted is None or "_deleted" in result.applied
        version = batch.next_version() if visible else batch.version
        row = _row_from_state(batch, spec, change.id, current, state, version)
        batch.stage(spec.name, change.id, row)
        standing = row
        if visible:
            op = "delete" if state.deleted is not None else "upsert"
            batch.record(spec.name, change.id, op, row, task_id, change.hlc)
        if current is None and task_id is not None and spec.creation_event is not None:
            timeline.entry_for(
                batch,
                change,
                spec.creation_event,
                timeline.creation_payload(spec.name, change.id, row),
                task_id=task_id,
            )
    if result.conflicts or result.delete_conflict:
        conflict_id = open_edit_conflict(batch, spec.name, change, current, result)
    return answer(
        batch,
        spec,
        change.id,
        result.outcome,
        conflict_id=conflict_id,
        applied=changed,
        row=standing,
    )


def _row_from_state(
    batch: Batch,
    spec: EntitySpec,
    row_id: uuid.UUID,
    current: dict[str, Any] | None,
    state: RowState,
    version: int,
) -> dict[str, Any]:
    now = batch.now
    clocks = state.clocks_json()
    if current is not None:  # the state holds the clocks of the fields it merged
        # In the table's column order, so its log entry is written without a copy.
        row = store.in_column_order(spec.name, current)
        store.put_values(spec.name, row, state.values)
        row["id"] = row_id
        row["version"] = version
        row["field_clocks"] = {**current["field_clocks"], **clocks}
        row["updated_at"] = now
    else:
        row = store.new_row(spec.name, now)
        store.put_values(spec.name, row, state.values)
        row["id"] = row_id
        row["version"] = version
        row["field_clocks"] = clocks
        row["updated_at"] = row["created_at"] = now
        row["created_by"] = batch.who.user_id
        if spec.name == "task_event":
            row.update(actor_id=batch.who.user_id, client_id=batch.client_id, server_time=now)
        if spec.name == "task":  # given once, here, whichever way the task came in
            row["job_number"] = batch.next_job_number()
    if state.deleted is not None:
        row["deleted_at"] = row.get("deleted_at") or now
    return row


def answer(
    batch: Batch,
    spec: EntitySpec,
    row_id: uuid.UUID,
    outcome: Outcome,
    conflict_id: uuid.UUID | None = None,
    applied: bool = False,
    row: dict[str, Any] | None = None,
) -> ChangeOutcome:
    """A change's result: with the row as it stands when it did not simply apply
    (`row`, when the caller holds it; else the batch's)."""
    if row is None:
        row = batch.row(spec.name, row_id)
    if outcome is Outcome.APPLIED:
        version = row["version"] if (row is not None and applied) else None
        return ChangeOutcome(store.uuid_text(row_id), outcome, version, conflict_id)
    current = None
    if outcome in (Outcome.SUPERSEDED, Outcome.CONFLICT) and row is not None:
        current = store.row_to_json(spec.name, row)
    version = row["version"] if (row is not None and applied) else None
    return ChangeOutcome(store.uuid_text(row_id), outcome, version, conflict_id, current)


def _state_of_fields(entity: str, row: dict[str, Any], names: Iterable[str]) -> RowState:
    """`state_of` for an upsert of `names`: only their values and clocks (and the
    tombstone), all `merge_upsert` reads; `_row_from_state` lays the result over
    the row and its clocks. Loading the whole row per edit cost more than the merge."""
    clocks = row["field_clocks"]
    values = store.values_to_json(entity, row, names)
    # `FieldClock.from_json`, with the stamps remembered: a row's fields were mostly
    # set by one change, under one stamp.
    found: dict[str, FieldClock] = {}
    made: dict[tuple[Any, Any, Any], FieldClock] = {}  # one per clock the fields share
    for name in names:
        clock = clocks.get(name)
        if clock is None:
            continue
        key = (clock["hlc"], clock["v"], clock["by"])
        made_clock = made.get(key)
        if made_clock is None:
            made_clock = made[key] = FieldClock(parse_stamp(key[0]), int(key[1]), str(key[2]))
        found[name] = made_clock
    deleted = clocks.get("_deleted")
    return RowState(values, found, FieldClock.from_json(deleted) if deleted else None)


def state_of(entity: str, row: dict[str, Any]) -> RowState:
    """A stored row as the merge sees it: JSON values, the same form as a change's
    (a datetime compares with, and is recorded in a conflict as, its ISO text)."""
    return RowState.from_row(store.row_to_json(entity, row), row["field_clocks"])
