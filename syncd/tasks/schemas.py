"""Request bodies, query strings and answer shapes of the task routes.

Bodies are strict (unknown fields are a 422); the answer models document the
JSON that syncd.tasks.service.task_read and the timeline build.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from protocol.entities import Geo, Location
from protocol.lifecycle import TaskStatus
from syncd.tasks.listing import Sort
from syncd.web.body import Body
from syncd.web.pagination import PageQuery
from syncd.web.patch import Patch

Priority = Literal["low", "normal", "high", "urgent"]


class TaskCreate(Body):
    id: uuid.UUID | None = Field(
        None, description="a client-generated id; re-posting the same id and body is idempotent"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    priority: Priority | None = None
    due_at: AwareDatetime | None = None
    location: Location | None = None
    scheduled_start: AwareDatetime | None = Field(
        None, description="the visit's booked window: with `scheduled_end`, both or neither"
    )
    scheduled_end: AwareDatetime | None = Field(None, description="never before the start")


class TaskPatch(Patch):
    """A partial update: leave a field out to keep it; `due_at` and the window (both
    of its ends together) may be set to null."""

    NULLABLE = frozenset({"due_at", "scheduled_start", "scheduled_end"})
    MUST_CHANGE = True

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    priority: Priority | None = None
    due_at: AwareDatetime | None = None
    location: Location | None = None
    scheduled_start: AwareDatetime | None = Field(
        None, description="the visit's booked window: set with `scheduled_end`"
    )
    scheduled_end: AwareDatetime | None = None
    updated_at: AwareDatetime | None = Field(
        None, description="the `updated_at` you read; a stale one is 409 `stale_task`"
    )


class ActionBody(Body):
    """When and where the action was taken (both optional)."""

    client_time: AwareDatetime | None = Field(None, description="the device's time of the action")
    geo: Geo | None = None


class RejectBody(ActionBody):
    reason: str = Field(min_length=1, max_length=2_000)


class AssignBody(Body):
    user_id: uuid.UUID = Field(description="an active technician of the tenant")


_STATUSES = "|".join(s.value for s in TaskStatus)


class TaskQuery(BaseModel):
    """The list filters (cursor and limit pass through)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: str | None = Field(
        None,
        description="one status or several, comma-separated: `assigned,in_progress`",
        pattern=rf"^({_STATUSES})(,({_STATUSES}))*$",
    )
    assignee: str | None = Field(None, description="a user id, or `me`")
    due_from: AwareDatetime | None = Field(None, description="due at or after (inclusive)")
    due_to: AwareDatetime | None = Field(None, description="due before (exclusive)")
    q: str | None = Field(None, max_length=200, description="text in the title or description")
    updated_since: AwareDatetime | None = Field(None, description="changed at or after")
    sort: Sort = Field("created_at", description="a field, `-` first for descending")

    @field_validator("status")
    @classmethod
    def _statuses(cls, value: str | None) -> str | None:
        for part in (value or "").split(","):
            if value is not None and part.strip() not in {s.value for s in TaskStatus}:
                raise ValueError(
                    f"{part.strip()!r} is not a status; one of "
                    + ", ".join(s.value for s in TaskStatus)
                )
        return value


class TaskListQuery(TaskQuery, PageQuery):
    """The list's query string, for the document."""


class TaskPath(BaseModel):
    task_id: uuid.UUID


# --- answers ----------------------------------------------------------------------


class TaskRead(BaseModel):
    """A task (with an `ETag` header: its version)."""

    id: uuid.UUID
    job_number: str | None = Field(
        description="the tenant's human number of the task, `JOB-000123`, given by the "
        "server when the task is created; never changes"
    )
    title: str
    description: str
    status: TaskStatus
    priority: Priority
    due_at: AwareDatetime | None
    location: dict[str, Any] = Field(description="`{address, lat, lng}` or `{}`")
    scheduled_start: AwareDatetime | None = Field(description="the visit's booked window, UTC")
    scheduled_end: AwareDatetime | None
    assignees: list[uuid.UUID] = Field(description="active technicians, first assigned first")
    allowed_actions: list[str] = Field(description="the lifecycle actions the status allows")
    version: int = Field(description="the change-log version of the task's last change")
    created_by: uuid.UUID | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    deleted_at: AwareDatetime | None


class TaskPage(BaseModel):
    items: list[TaskRead]
    next_cursor: str | None


class Actor(BaseModel):
    id: uuid.UUID
    display_name: str
    email: str | None


class TimelineItem(BaseModel):
    id: uuid.UUID
    kind: str = Field(
        description="created, assigned, unassigned, started, paused, resumed, completed, "
        "rejected, reopened, action_refused, purchase_added, receipt_added, media_added, "
        "or a device's own: note, photo, arrived, left, signature, custom"
    )
    refused: bool = Field(description="a stale action the server did not apply")
    actor: Actor | None
    device: str | None = Field(description="the client id that made it (`web-…` for REST)")
    client_time: AwareDatetime | None = Field(description="the device's clock, if it sent one")
    server_time: AwareDatetime
    geo: Geo | None
    payload: dict[str, Any]


class Timeline(BaseModel):
    task_id: uuid.UUID
    items: list[TimelineItem] = Field(
        description="in the order things happened: client time where sent, else server time"
    )
    truncated: bool = Field(description="true past 5,000 entries (the oldest arrivals are kept)")
