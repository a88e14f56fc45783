"""The typed field check (protocol/field_check.py) agrees with the entities' models.

What it accepts must be exactly what the pydantic model validates and dumps
for the same values; whatever the model refuses it must decline, so a bad
value always gets the model's own errors. The common changes take it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import field_check
from protocol.entities import ENTITIES, FieldErrors

ID = "0b4ad9c6-3b8e-4d55-9a66-6e1d3b7a40a1"


def _agrees(entity: str, values: dict[str, Any]) -> dict[str, Any] | None:
    spec = ENTITIES[entity]
    fast = field_check.check(spec.fields, values)
    try:
        model = spec.validate_by_model(values)
    except FieldErrors:
        assert fast is None, f"the check accepted what the model refuses: {values!r}"
        return None
    if fast is not None:
        assert fast == model
        assert list(fast) == list(model)  # the same order, nested too
        for name, value in fast.items():
            if isinstance(value, dict):
                assert list(value) == list(model[name])
    return fast


def test_the_common_changes_take_the_typed_check() -> None:
    common = [
        (
            "task",
            {
                "title": " Replace pump seal ",
                "description": "Pump leaks under load. " * 2,
                "priority": "normal",
                "location": {"address": "1 Olaya St", "lat": 24.69, "lng": 46.68},
            },
        ),
        ("task", {"title": "Seal ordered", "priority": "high", "description": ""}),
        ("task", {"location": {"address": "1 Olaya St"}, "description": None}),
        ("checklist_item", {"task_id": ID, "label": "Check valve", "done": False, "position": 3}),
        ("task_assignment", {"task_id": ID, "user_id": ID, "active": True}),
        ("task_event", {"task_id": ID, "kind": "note", "lat": 1.5, "lng": -2.25}),
    ]
    for entity, values in common:
        assert _agrees(entity, values) is not None, values


@pytest.mark.parametrize(
    ("entity", "values"),
    [
        ("task", {"title": "  "}),  # empty once trimmed
        ("task", {"title": "x" * 201}),
        ("task", {"priority": "soon"}),
        ("task", {"priority": " low"}),
        ("task", {"location": {"address": "1 Olaya St", "lat": 91.0}}),
        ("task", {"location": {"lat": 24}}),  # an integer is the model's to judge
        ("task", {"location": {"address": "x", "floor": 2}}),
        ("task", {"due_at": "2030-01-01T00:00:00Z"}),  # datetimes are the model's
        ("task", {"scheduled_start": None, "scheduled_end": None}),  # read together
        ("task", {"colour": "red"}),
        ("checklist_item", {"done": 1}),
        ("checklist_item", {"position": True}),
        ("checklist_item", {"position": -1}),
        ("checklist_item", {"task_id": ID.upper()}),  # the model gives it canonically
        ("purchase", {"vendor": "ACME", "amount_minor": 5}),  # the model checks the lines
        ("receipt", {"currency": "SAR"}),
    ],
)
def test_what_it_is_not_sure_of_takes_the_model(entity: str, values: dict[str, Any]) -> None:
    assert field_check.check(ENTITIES[entity].fields, values) is None
    _agrees(entity, values)


_SPACES = st.sampled_from(["", " ", "\t", "\n", "\x1c", "\x1f", "\xa0", "\u2003", "\u3000", "\x85"])
_TEXT = st.builds(
    lambda a, t, b: a + t + b, _SPACES, st.text(max_size=12) | st.just("x" * 200), _SPACES
)
_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-90.0, 90.0, -180.0, 180.5, 0.0, 1_000_000.0, 1e6 + 1, 10.0**12, 10.0**13]),
    st.integers(min_value=-2, max_value=10**13 + 1),
    _TEXT,
    st.sampled_from(["low", "normal", "high", "urgent", "note", "photo", ID, ID.upper(), "SAR"]),
    st.uuids().map(str),
)
_LOCATION = st.dictionaries(st.sampled_from(["address", "lat", "lng", "floor"]), _VALUE, max_size=4)


@st.composite
def _changes(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    entity = draw(st.sampled_from(sorted(ENTITIES)))
    names = [*ENTITIES[entity].fields.model_fields, "unknown"]
    values = draw(st.dictionaries(st.sampled_from(names), _VALUE | _LOCATION, max_size=5))
    return entity, values


@settings(max_examples=1500, deadline=None)
@given(_changes())
def test_it_agrees_with_the_model(change: tuple[str, dict[str, Any]]) -> None:
    _agrees(*change)


@settings(max_examples=300, deadline=None)
@given(_LOCATION, _TEXT)
def test_locations_and_titles_agree(location: dict[str, Any], title: str) -> None:
    _agrees("task", {"title": title, "location": location})
