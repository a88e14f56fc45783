"""Wire types of the changeset protocol (docs/protocol.md is their contract).

A push is `{client_id, batch_id, changes[]}`; each change names an entity, a
client-generated UUID and an op:

- `upsert`: `fields` to set, stamped by `hlc` (or per field by `field_hlc`);
- `delete`: a tombstone stamped by `hlc`;
- `action`: a task lifecycle command (`start`, `pause`, ...), with optional
  `client_time`, `geo` and `reason`, and `fields.user_id` for `assign`;
- `ydoc`: a base64 Yjs update for a collaborative text field (`update`).

Every change carries `base_version`, the tenant version at which the device
last saw the entity. The answer holds one result per change, in order.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.entities import Geo
from protocol.hlc import NODE_PATTERN, Stamp
from protocol.merge import Outcome

ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,100}$"


class Op(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"
    ACTION = "action"
    YDOC = "ydoc"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Wire):
    entity: str = Field(min_length=1, max_length=32)
    id: uuid.UUID
    op: Op
    hlc: str
    base_version: int = Field(0, ge=0, le=2**63 - 1, strict=True)
    fields: dict[str, Any] = Field(default_factory=dict)
    field_hlc: dict[str, str] | None = None
    action: str | None = Field(None, max_length=32)
    client_time: AwareDatetime | None = None
    geo: Geo | None = None
    reason: str | None = Field(None, max_length=2_000)
    update: str | None = Field(None, max_length=1_400_000)

    @field_validator("hlc")
    @classmethod
    def _stamp(cls, value: str) -> str:
        Stamp.parse(value)
        return value

    @field_validator("field_hlc")
    @classmethod
    def _stamps(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for stamp in (value or {}).values():
            Stamp.parse(stamp)
        return value

    @model_validator(mode="after")
    def _op_shape(self) -> Change:
        if self.op is Op.ACTION and not self.action:
            raise ValueError("an action change needs 'action'")
        if self.op is not Op.ACTION and self.action is not None:
            raise ValueError("'action' is only for op 'action'")
        if self.op is Op.YDOC and not self.update:
            raise ValueError("a ydoc change needs 'update' (base64 Yjs update)")
        if self.op is Op.UPSERT and not self.fields:
            raise ValueError("an upsert needs at least one field")
        if self.field_hlc is not None and not set(self.field_hlc) <= set(self.fields):
            raise ValueError("field_hlc names fields the change does not set")
        return self

    def stamp_of(self, name: str) -> Stamp:
        text = (self.field_hlc or {}).get(name, self.hlc)
        return Stamp.parse(text)


class PushRequest(_Wire):
    client_id: str = Field(pattern=rf"^{NODE_PATTERN}$")
    batch_id: str = Field(pattern=ID_PATTERN)
    # Any JSON value: each is validated on its own, so one that is not even an
    # object is answered `rejected` without failing the rest of the batch.
    changes: list[Any] = Field(min_length=1)
    # The app schema the changes are written in (protocol/versions.py); None: the oldest.
    app_schema: int | None = Field(None, strict=True, alias="schema")


class ChangeResult(_Wire):
    id: str
    status: Outcome
    version: int | None = None
    conflict_id: uuid.UUID | None = None
    current: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None


class PulledChange(_Wire):
    version: int
    entity: str
    id: uuid.UUID
    op: Literal["upsert", "delete", "remove"]
    data: dict[str, Any]


def change_outcome_json(result: ChangeResult) -> dict[str, Any]:
    return result.model_dump(mode="json", exclude_none=True)
