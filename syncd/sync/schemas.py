"""Request and answer shapes of the sync routes, for the OpenAPI document.

Documentation models (docs/protocol.md is the contract): the handlers parse
with protocol.changes.PushRequest and shape their own JSON. `PushBody` shows
each change as a `Change`, where PushRequest takes any object and answers a
malformed change `rejected` instead of failing the batch.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocol.changes import ID_PATTERN, Change, ChangeResult, PulledChange
from protocol.hlc import NODE_PATTERN
from protocol.roles import Role
from syncd.web.pagination import PageQuery

# --- push and pull --------------------------------------------------------------------


class PushBody(BaseModel):
    """One batch of changes from one device; `(client_id, batch_id)` makes it idempotent."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(pattern=rf"^{NODE_PATTERN}$", description="the device's id")
    batch_id: str = Field(pattern=ID_PATTERN, description="unique per batch of this device")
    changes: list[Change] = Field(min_length=1, description="a malformed one is `rejected`")
    app_schema: int | None = Field(
        None,
        alias="schema",
        description="the app schema the changes are written in (docs/protocol.md, Schema "
        "versions); omitted: 1, the oldest",
    )


class PushAnswer(BaseModel):
    """One result per change, in the order sent."""

    results: list[ChangeResult]
    cursor: str = Field(description="the tenant version after this push, as a log cursor")


class TaskConflict(BaseModel):
    id: str
    status: Literal["conflict", "superseded"]
    conflict_id: uuid.UUID | None
    server: dict[str, Any] | None = Field(description="the task as it stands")
    updated_at: datetime | None


class TasksPushAnswer(PushAnswer):
    """The push answer, plus what stands for each change that did not simply apply."""

    conflicts: list[TaskConflict]


class PullPage(BaseModel):
    """Changes after the cursor, in version order (a snapshot first, from the start)."""

    changes: list[PulledChange]
    cursor: str
    has_more: bool


# --- conflict inbox -------------------------------------------------------------------


class ConflictPath(BaseModel):
    conflict_id: uuid.UUID


class ConflictQuery(PageQuery):
    status: Literal["open", "resolved"] | None = None
    entity: str | None = None
    user: uuid.UUID | None = Field(None, description="the user whose change conflicted")
    device: str | None = Field(None, description="the client id whose change conflicted")
    since: datetime | None = Field(None, description="created at or after (with an offset)")


class ConflictSummary(BaseModel):
    id: uuid.UUID
    entity: str
    entity_id: uuid.UUID
    kind: Literal["concurrent_edit", "delete_update", "stale_action"]
    status: Literal["open", "resolved"]
    fields: list[str]
    user_id: uuid.UUID | None
    client_id: str | None
    created_at: datetime
    resolved_at: datetime | None


class ConflictPage(BaseModel):
    """One page of conflicts, oldest first."""

    items: list[ConflictSummary]
    next_cursor: str | None


class FieldDiff(BaseModel):
    field: str
    base: Any = Field(description="the value the client last saw, at its base_version")
    server: Any
    client: Any


class ConflictDetail(ConflictSummary):
    """A conflict with its field-level diff and the row as it stands."""

    diff: list[FieldDiff]
    client: dict[str, Any]
    server: dict[str, Any]
    base_version: int | None
    server_version: int | None
    server_client_id: str | None
    resolution: dict[str, Any] | None
    resolved_by: uuid.UUID | None
    current: dict[str, Any] | None


class Resolved(BaseModel):
    """The conflict is resolved; `version` is the change that settled it, if any."""

    id: uuid.UUID
    status: Literal["resolved"]
    version: int | None


class ResolvedMany(BaseModel):
    """Every conflict resolved, in one transaction."""

    results: list[Resolved]


# --- sync health ----------------------------------------------------------------------


class DeviceRead(BaseModel):
    client_id: str
    user_id: uuid.UUID
    email: str
    role: Role
    user_agent: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    cursor_version: int = Field(description="how far the device has pulled")
    lag: int = Field(description="tenant version minus cursor_version")
    last_push_at: datetime | None
    last_push_counts: dict[str, int] = Field(description="results of the last push by status")
    app_schema: int | None = Field(
        alias="schema",
        description="the app schema of its last push or pull (None: not seen since schemas)",
    )
    upgrade_required: bool = Field(
        description="its schema is below the server's minimum: it is refused until updated"
    )


class DevicesRead(BaseModel):
    """Every device of the tenant, most recently seen first."""

    tenant_version: int
    minimum_schema: int = Field(description="the oldest app schema the server serves")
    current_schema: int = Field(description="the newest app schema the server knows")
    items: list[DeviceRead]


class RejectionPath(BaseModel):
    rejection_id: uuid.UUID


class RejectionQuery(PageQuery):
    status: Literal["open", "replayed", "dismissed"] | None = None
    device: str | None = Field(None, description="a client id")


class RejectionRead(BaseModel):
    """A rejected change, kept with its problem."""

    id: uuid.UUID
    client_id: str
    batch_id: str
    user_id: uuid.UUID
    change: dict[str, Any]
    problem: dict[str, Any]
    status: Literal["open", "replayed", "dismissed"]
    result: dict[str, Any] | None = Field(description="the push result of the last replay")
    created_at: datetime
    replayed_at: datetime | None


class RejectionPage(BaseModel):
    """One page of rejected changes, oldest first."""

    items: list[RejectionRead]
    next_cursor: str | None
