"""The entity registry (protocol/entities.py) and storage's table map agree."""

from __future__ import annotations

import uuid

from protocol.entities import ENTITIES
from storage.sync_store import MODELS
from syncd.sync.cursor import V1_SNAPSHOT_ENTITIES


def test_both_registries_name_the_same_entities() -> None:
    assert set(ENTITIES) == set(MODELS)


def test_every_entity_has_a_scope_rule_its_table_can_follow() -> None:
    for name, spec in ENTITIES.items():
        columns = MODELS[name].__table__.columns  # type: ignore[attr-defined]
        if spec.hangs_off == "task_id":
            assert "task_id" in columns, name
        if spec.hangs_off == "owner":
            assert {"owner_type", "owner_id"} <= set(columns.keys()), name
        for reference in spec.references:
            assert reference.field in columns or reference.many, (name, reference)
            assert reference.entity in ENTITIES, (name, reference)
        assert spec.fixed <= set(spec.fields.model_fields), name
        assert set(spec.summary) <= set(columns.keys()), name


def test_cursors_made_before_entities_had_names_still_name_an_entity() -> None:
    assert set(V1_SNAPSHOT_ENTITIES) <= set(ENTITIES)


def test_a_rows_task_comes_from_its_scope_rule() -> None:
    row_id, task_id = uuid.uuid4(), uuid.uuid4()
    assert ENTITIES["task"].task_of(row_id, {}) == row_id
    assert ENTITIES["purchase"].task_of(row_id, {"task_id": str(task_id)}) == task_id
    assert ENTITIES["media_asset"].task_of(row_id, {"owner_id": str(task_id)}) is None
