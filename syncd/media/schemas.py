"""The shapes of the media routes: an upload declared, where to send it, a media asset."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field, model_validator

from syncd.media.service import CONTENT_TYPES, Declaration
from syncd.web.body import Body

ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"]
assert set(CONTENT_TYPES) == set(get_args(ContentType))


class MediaUploadCreate(Body):
    """`owner_id` names the task, purchase or receipt and is required for them; a
    tenant's media has none."""

    # Not a JSON Schema condition: schemathesis reads `if`/`anyOf` here as a
    # missing property and flags valid tenant uploads as accepted violations.

    media_id: uuid.UUID
    content_type: ContentType
    size: int = Field(ge=1)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    owner_type: Literal["task", "purchase", "receipt", "tenant"]
    owner_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _owner_named(self) -> MediaUploadCreate:
        if self.owner_type != "tenant" and self.owner_id is None:
            raise ValueError(f"owner_id is required for a {self.owner_type}'s media")
        return self

    def declaration(self) -> Declaration:
        return Declaration(
            self.media_id,
            self.content_type,
            self.size,
            None if self.sha256 is None else self.sha256.lower(),
            self.owner_type,
            self.owner_id,
        )


class MediaPath(BaseModel):
    media_id: uuid.UUID


class PresignedUploadRead(BaseModel):
    """How to send the file: PUT it with `headers`, or POST a form of `fields` then `file`."""

    method: Literal["PUT", "POST"]
    url: str
    headers: dict[str, str] | None = Field(None, description="PUT: send exactly these")
    fields: dict[str, str] | None = Field(None, description="POST: the form fields, in order")


class MediaUploadCreated(BaseModel):
    """Where and how to upload the file, until `expires_at`."""

    media_id: uuid.UUID
    upload: PresignedUploadRead
    expires_at: datetime


class MediaRead(BaseModel):
    """A media asset (photo or document)."""

    id: uuid.UUID
    owner_type: Literal["task", "purchase", "receipt", "tenant"]
    owner_id: uuid.UUID | None
    content_type: ContentType
    declared_size: int
    size: int | None = Field(description="set once the upload is complete")
    sha256: str | None
    status: Literal["pending", "uploaded"]
    width: int | None = Field(description="of the upright image, once its thumbnail is made")
    height: int | None
    content_url: str | None = Field(description="redirects to the file; null until uploaded")
    thumbnail_url: str | None = Field(description="redirects to a JPEG of at most 512 px")
    created_by: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None
    version: int
