"""The shapes of the report routes: a job sheet asked for, a report as it stands."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from syncd.web.body import Body


class JobSheetCreate(Body):
    locale: Literal["en", "ar"] | None = Field(
        None, description="the sheet's language; default: yours, else the tenant's"
    )


class TaskPath(BaseModel):
    task_id: uuid.UUID


class ReportPath(BaseModel):
    report_id: uuid.UUID


class ReportRead(BaseModel):
    """A job sheet being made, made, or failed."""

    id: uuid.UUID
    task_id: uuid.UUID
    locale: Literal["en", "ar"]
    status: Literal["queued", "running", "done", "failed"]
    attempts: int = Field(description="how many times the job has started")
    error: str | None = Field(description="the last attempt's error, if it failed")
    content_url: str | None = Field(description="redirects to the PDF; null until done")
    created_by: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None
