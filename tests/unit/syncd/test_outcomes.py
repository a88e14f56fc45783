"""The service's change outcome encodes exactly as the wire's ChangeResult does."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from protocol.changes import ChangeResult
from protocol.merge import Outcome
from syncd.sync.outcomes import ChangeOutcome

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
maybe_dict = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@given(
    row_id=st.uuids().map(str),
    status=st.sampled_from(list(Outcome)),
    version=st.none() | st.integers(min_value=0, max_value=2**62),
    conflict_id=st.none() | st.uuids(),
    current=maybe_dict,
    problem=maybe_dict,
)
def test_as_json_is_the_wire_models_dump(
    row_id: str,
    status: Outcome,
    version: int | None,
    conflict_id: uuid.UUID | None,
    current: dict[str, Any] | None,
    problem: dict[str, Any] | None,
) -> None:
    values = {
        "id": row_id,
        "status": status,
        "version": version,
        "conflict_id": conflict_id,
        "current": current,
        "problem": problem,
    }
    wire = ChangeResult(**values).model_dump(mode="json", exclude_none=True)
    assert ChangeOutcome(**values).as_json() == wire
    assert ChangeResult.model_validate(ChangeOutcome(**values).as_json()) == ChangeResult(**values)
