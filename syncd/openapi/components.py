"""The schemas of the document: every model of every description, as components.

All models go through one `models_json_schema` call, so two models of one name
never collide and each keeps one component; request bodies, query and path
models are taken in validation mode, answers in serialization mode. Query and
path models become parameters, so `referenced` keeps only the components the
paths use. `Problem` is the one shape of every 4xx and 5xx answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from syncd.openapi import Description, without_null

REF_PREFIX = "#/components/schemas/"
Mode = Literal["validation", "serialization"]


class FieldError(BaseModel):
    """One field that did not validate."""

    field: str = Field(description="dotted path of the field, or `(body)`")
    code: str = Field(description="stable error code, e.g. `missing`, `string_too_short`")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: every 4xx and 5xx answer has this shape."""

    type: str = Field(description="`urn:syncd:problem:<code>`")
    title: str
    status: int
    detail: str
    instance: str = Field(description="the request path")
    code: str = Field(description="stable: clients branch on it")
    request_id: str | None = Field(None, description="quote it when reporting a problem")
    errors: list[FieldError] | None = Field(None, description="field errors (422)")
    retry_after: int | None = Field(
        None, description="429: the seconds to wait, as the Retry-After header says"
    )


class Components:
    """The components of the described models, and references to them."""

    def __init__(self, descriptions: Iterable[Description]) -> None:
        wanted: dict[tuple[type[BaseModel], Mode], None] = {(Problem, "serialization"): None}
        for described in descriptions:
            for model in (described.body, described.query, described.path):
                if isinstance(model, type):
                    wanted[(model, "validation")] = None
            for answer in described.responses.values():
                if isinstance(answer, type):
                    wanted[(answer, "serialization")] = None
        refs, top = models_json_schema(list(wanted), ref_template=REF_PREFIX + "{model}")
        self.refs: dict[tuple[Any, Mode], dict[str, Any]] = dict(refs)
        self.schemas: dict[str, Any] = top.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return self.refs[(model, mode)]

    def parameters(
        self, model: type[BaseModel] | None
    ) -> Iterator[tuple[str, dict[str, Any], bool]]:
        """(name, schema, required) of each field of a query or path model."""
        if model is None:
            return
        name = self.refs[(model, "validation")]["$ref"].removeprefix(REF_PREFIX)
        schema = self.schemas[name]
        required = set(schema.get("required", ()))
        for field, prop in schema.get("properties", {}).items():
            plain = without_null({k: v for k, v in prop.items() if k != "title"})
            yield field, plain, field in required


def referenced(components: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """The components the paths use, directly or through other components.

    Query and path models are spelled out as parameters, so theirs go.
    """
    kept: dict[str, Any] = {}
    pending = _refs(paths)
    while pending:
        name = pending.pop()
        if name not in kept:
            kept[name] = components[name]
            pending |= _refs(kept[name])
    return kept


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {str(node["$ref"]).removeprefix(REF_PREFIX)} if "$ref" in node else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()
