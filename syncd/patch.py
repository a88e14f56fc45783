"""The base of partial-update bodies (PATCH): leave a field out to keep it.

A field set to null is refused unless the model's `NULLABLE` names it (a due
date may be cleared, a title may not); the OpenAPI document says the same.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, ValidationInfo, field_validator

from syncd.body import Body
from syncd.openapi import only_nullable_may_be_null


class Patch(Body):
    """A partial update: a field may be left out, but only NULLABLE ones set to null."""

    model_config = ConfigDict(json_schema_extra=only_nullable_may_be_null)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("leave the field out to keep it; it cannot be null")
        return value
