"""Schema versions (protocol/versions.py): upcasting an old app's change and shaping
a current row down to it, as properties over every valid old change."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import versions
from protocol.entities import ENTITIES, FieldErrors
from storage.sync_store import MODELS

INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
ISO = INSTANTS.map(lambda moment: moment.isoformat().replace("+00:00", "Z"))
TEXT = st.text(min_size=1, max_size=40).filter(lambda t: t.strip() == t and t)
NUMBER = st.floats(min_value=-90, max_value=90, allow_nan=False)

V1_TASK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "title": TEXT,
    "description": st.text(max_size=60).filter(lambda t: t.strip() == t),
    "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
    "due_at": st.none() | ISO,
    "location": st.none()
    | st.fixed_dictionaries({"address": st.text(max_size=30).filter(lambda t: t.strip() == t)})
    | st.fixed_dictionaries({"address": TEXT, "lat": NUMBER, "lng": NUMBER}),
}


@st.composite
def v1_task_changes(draw: st.DrawFn) -> dict[str, Any]:
    """An upsert a version-1 app may send: valid by the task's rules, v1 fields only."""
    names = draw(st.sets(st.sampled_from(sorted(V1_TASK_FIELDS)), min_size=1))
    fields = {name: draw(V1_TASK_FIELDS[name]) for name in sorted(names)}
    change: dict[str, Any] = {
        "entity": "task",
        "id": str(uuid.uuid4()),
        "op": "upsert",
        "hlc": "1700000000000:0:phone-1",
        "base_version": draw(st.integers(min_value=0, max_value=10)),
        "fields": fields,
    }
    if draw(st.booleans()):
        change["field_hlc"] = {name: "1700000000001:0:phone-1" for name in fields}
    ENTITIES["task"].validate(fields, creating=False)  # only valid changes
    return change


@st.composite
def windows(draw: st.DrawFn) -> dict[str, str]:
    start = draw(INSTANTS)
    end = start + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 7)))
    return {
        "scheduled_start": start.isoformat().replace("+00:00", "Z"),
        "scheduled_end": end.isoformat().replace("+00:00", "Z"),
    }


@settings(max_examples=300)
@given(v1_task_changes())
def test_upcasting_then_shaping_down_gives_the_old_fields_back(change: dict[str, Any]) -> None:
    up = versions.upcast_change(change, 1)
    assert versions.shape_row("task", up["fields"], 1) == change["fields"]


@settings(max_examples=300)
@given(v1_task_changes(), windows())
def test_a_v1_change_merged_into_a_current_row_leaves_the_window_and_reads_back(
    change: dict[str, Any], window: dict[str, str]
) -> None:
    row = {"title": "Boiler", "description": "", "priority": "normal", **window}
    merged = {**row, **versions.upcast_change(change, 1)["fields"]}
    assert {k: merged[k] for k in window} == window  # never clobbered
    seen = versions.shape_row("task", merged, 1)
    assert not versions.unknown_at("task", 1) & seen.keys()
    assert {k: seen[k] for k in change["fields"]} == change["fields"]


@settings(max_examples=300)
@given(v1_task_changes())
def test_upcasting_is_deterministic_and_leaves_its_input_alone(change: dict[str, Any]) -> None:
    before = copy.deepcopy(change)
    first = versions.upcast_change(change, 1)
    second = versions.upcast_change(copy.deepcopy(change), 1)
    assert first == second
    assert change == before
    assert set(first.get("field_hlc") or {}) <= set(first["fields"])


@settings(max_examples=100)
@given(v1_task_changes(), windows())
def test_a_current_change_passes_through_unchanged(
    change: dict[str, Any], window: dict[str, str]
) -> None:
    change = {**change, "fields": {**change["fields"], **window}}
    change.pop("field_hlc", None)
    assert versions.upcast_change(change, versions.CURRENT) == change


@pytest.mark.parametrize("name", ["scheduled_start", "scheduled_end"])
def test_a_v1_change_naming_a_field_it_cannot_know_is_refused(name: str) -> None:
    change = {"entity": "task", "op": "upsert", "fields": {"title": "x", name: None}}
    with pytest.raises(versions.UnknownFields) as caught:
        versions.upcast_change(change, 1)
    assert caught.value.names == [name]


def test_non_upserts_and_unchanged_entities_pass_through() -> None:
    action = {"entity": "task", "op": "action", "action": "start", "fields": {"x": 1}}
    assert versions.upcast_change(action, 1) == action
    item = {"entity": "checklist_item", "op": "upsert", "fields": {"label": "a"}}
    assert versions.upcast_change(item, 1) == item
    assert not versions.shapes("checklist_item", 1)
    assert versions.shapes("task", 1)
    assert not versions.shapes("task", versions.CURRENT)


def test_entity_versions_count_their_own_steps() -> None:
    assert versions.CURRENT == 2
    assert versions.OLDEST == 1
    assert versions.entity_version("task", 1) == 1
    assert versions.entity_version("task", 2) == 2
    assert versions.entity_version("purchase", 2) == 1


@pytest.mark.parametrize("schema", [0, 3, -1, True, "2", 1.0, None])
def test_only_known_schemas_are_accepted(schema: Any) -> None:
    with pytest.raises(versions.UnknownSchema):
        versions.check(schema)


def test_every_step_names_fields_its_entity_has() -> None:
    for step in versions.STEPS:
        assert step.added <= set(ENTITIES[step.entity].fields.model_fields), step
        assert step.added <= set(MODELS[step.entity].__table__.columns.keys()), step  # type: ignore[attr-defined]
        assert versions.OLDEST < step.schema <= versions.CURRENT


def test_the_window_is_one_value_and_never_ends_before_it_starts() -> None:
    spec = ENTITIES["task"]
    ok = spec.validate(
        {"scheduled_start": "2026-12-07T08:00:00+03:00", "scheduled_end": "2026-12-07T07:00:00Z"},
        creating=False,
    )
    assert ok == {
        "scheduled_start": "2026-12-07T05:00:00Z",
        "scheduled_end": "2026-12-07T07:00:00Z",
    }
    assert spec.validate({"scheduled_start": None, "scheduled_end": None}, creating=False) == {
        "scheduled_start": None,
        "scheduled_end": None,
    }
    for bad in (
        {"scheduled_start": "2026-12-07T08:00:00Z"},
        {"scheduled_start": "2026-12-07T08:00:00Z", "scheduled_end": None},
        {"scheduled_start": "2026-12-07T08:00:00Z", "scheduled_end": "2026-12-07T07:59:59Z"},
        {"scheduled_start": "2026-12-07T08:00:00", "scheduled_end": "2026-12-07T09:00:00"},
    ):
        with pytest.raises(FieldErrors):
            spec.validate(bad, creating=False)
