"""The outcome of one change as the sync service builds it.

`ChangeOutcome` carries what the wire's `ChangeResult` (protocol/changes.py)
carries, as a plain slotted dataclass (never changed once built): a push builds
one per change, and a pydantic model's construction and dump (or a frozen
dataclass's construction) cost more than the rest of answering a task
creation. `as_json()` is the wire form: the same keys as
`ChangeResult.model_dump(mode="json", exclude_none=True)`, checked by the
tests against the model. A `rejected` outcome made by `rejected()` keeps the
problem that refused the change (`refusal`, never on the wire): a REST write
raises it as the request's problem.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from protocol.merge import Outcome
from syncd.web.problems import Problem


@dataclass(slots=True)
class ChangeOutcome:
    id: str
    status: Outcome
    version: int | None = None
    conflict_id: uuid.UUID | None = None
    current: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    refusal: Problem | None = field(default=None, compare=False, repr=False)

    @classmethod
    def rejected(cls, row_id: str, refusal: Problem) -> ChangeOutcome:
        """The result of a change `refusal` refuses (its problem as the wire carries it);
        the refusal is kept without its traceback (a push may hold many)."""
        kept = refusal.with_traceback(None)
        return cls(id=row_id, status=Outcome.REJECTED, problem=refusal.as_json(), refusal=kept)

    def as_json(self) -> dict[str, Any]:
        """The result as it travels (fields without a value left out)."""
        data: dict[str, Any] = {"id": self.id, "status": self.status._value_}
        if self.version is not None:
            data["version"] = self.version
        if self.conflict_id is not None:
            data["conflict_id"] = str(self.conflict_id)
        if self.current is not None:
            data["current"] = self.current
        if self.problem is not None:
            data["problem"] = self.problem
        return data
