"""What a route answers, declared on its handler as its permission is: `@describe(...)`.

    @routes.post("/auth/login")
    @public
    @describe(
        summary="Sign in",
        body=LoginBody,
        responses={200: TokenPairRead},
        problems=[InvalidCredentials, LoginThrottled],
        tenant=True,
    )
    async def login(request: web.Request) -> web.Response: ...

The OpenAPI document (`syncd.openapi.document`) is generated from the route
table and these declarations; no YAML is kept by hand. `problems` names the
statuses a route may answer with a problem, as `Problem` subclasses (their
stable codes reach the document) or bare status numbers; the ones every route
of a kind shares (401/403 for a protected route, 413/415/422 for a JSON body,
the tenant's 400/404) are added by the generator. Response models are
documentation: handlers keep shaping their own JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from syncd.web.problems import Problem

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__syncd_openapi__"
_NOT_API = "__syncd_not_api__"


@dataclass(frozen=True, slots=True)
class Binary:
    """A body that is not JSON: the media types it may have (a logo, a page, a script)."""

    media_types: tuple[str, ...]
    description: str = ""


Answer = type[BaseModel] | Binary | None  # None: no body (204, 101)


@dataclass(frozen=True, slots=True)
class Description:
    summary: str
    responses: Mapping[int, Answer]
    description: str | None = None
    body: type[BaseModel] | Binary | None = None
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[int | type[Problem], ...] = ()
    tags: tuple[str, ...] = ()
    tenant: bool = False


def describe(
    *,
    summary: str,
    responses: Mapping[int, Answer],
    description: str | None = None,
    body: type[BaseModel] | Binary | None = None,
    query: type[BaseModel] | None = None,
    path: type[BaseModel] | None = None,
    headers: Mapping[str, str] | None = None,
    problems: Iterable[int | type[Problem]] = (),
    tags: Iterable[str] = (),
    tenant: bool = False,
) -> Callable[[F], F]:
    """Declare what a route handler takes and answers.

    `description` defaults to the handler's docstring; `headers` are request
    headers (name: meaning); `tenant` marks a public route that names its tenant
    with `X-Tenant` (a protected route's token always names one); `tags` default
    to the first segment of the path.
    """
    if not any(100 <= status < 400 for status in responses):
        raise ValueError(f"{summary!r}: declare at least one success response")

    def mark(handler: F) -> F:
        text = description if description is not None else inspect.getdoc(handler)
        setattr(
            handler,
            _ATTRIBUTE,
            Description(
                summary=summary,
                responses=dict(responses),
                description=text,
                body=body,
                query=query,
                path=path,
                headers=dict(headers or {}),
                problems=tuple(problems),
                tags=tuple(tags),
                tenant=tenant,
            ),
        )
        return handler

    return mark


def not_api(handler: F) -> F:
    """Mark a route for people, not API clients (the admin console's HTML pages and
    forms, docs/console.md): it is left out of the OpenAPI document."""
    setattr(handler, _NOT_API, True)
    return handler


def is_api(handler: Callable[..., Any]) -> bool:
    return not getattr(handler, _NOT_API, False)


def description_of(handler: Callable[..., Any]) -> Description | None:
    found: Description | None = getattr(handler, _ATTRIBUTE, None)
    return found


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema without the `null` branch (and `default: null`) of an optional type."""
    schema = dict(schema)
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    options = [o for o in schema.get("anyOf", ()) if o != {"type": "null"}]
    if "anyOf" in schema and len(options) == 1:
        del schema["anyOf"]
        schema = {**options[0], **schema}
    elif "anyOf" in schema:
        schema["anyOf"] = options
    return schema


def only_nullable_may_be_null(schema: dict[str, Any], model: type[Any]) -> None:
    """`json_schema_extra` of a partial update: a field may be left out, not set to null,
    unless the model's `NULLABLE` names it (the rule its validator enforces)."""
    nullable: frozenset[str] = getattr(model, "NULLABLE", frozenset())
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        if name not in nullable:
            properties[name] = without_null(prop)
