"""The base of partial-update bodies (PATCH): leave a field out to keep it.

A field set to null is refused unless the model's `NULLABLE` names it (a due
date may be cleared, a title may not); the OpenAPI document says the same.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, ValidationInfo, field_validator

from syncd.openapi import only_nullable_may_be_null
from syncd.web.body import Body

PRECONDITIONS = frozenset({"updated_at"})  # says what was read; changes nothing


def _patch_schema(schema: dict[str, Any], model: type[Any]) -> None:
    only_nullable_may_be_null(schema, model)
    if getattr(model, "MUST_CHANGE", False):  # 422 nothing_to_change otherwise
        # (not an `anyOf` of one `required` each: TypeScript generators read it as
        # `unknown` and the whole body loses its type)
        schema["minProperties"] = 1
        preconditions = sorted(PRECONDITIONS & set(schema.get("properties", {})))
        if preconditions:
            schema["description"] = (
                f"{schema.get('description', '').rstrip()} At least one field besides "
                + ", ".join(f"`{name}`" for name in preconditions)
                + " (else 422 `nothing_to_change`)."
            ).strip()


class Patch(Body):
    """A partial update: a field may be left out, but only NULLABLE ones set to null.
    With MUST_CHANGE, at least one field other than a precondition (the document's
    `minProperties` and description; else 422 `nothing_to_change`)."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()
    MUST_CHANGE: ClassVar[bool] = False

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("leave the field out to keep it; it cannot be null")
        return value
