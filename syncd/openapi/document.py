"""The OpenAPI 3.1 document, generated from the route table and the handlers' descriptions.

`build_document(app)` walks `app.router.routes()` (HEAD skipped), turns
`{name}` and `{name:regex}` into path parameters, and takes the models of the
descriptions into `components.schemas` (syncd.openapi.components). Per
operation it adds the bearer security and `x-permission` from the route's
permission, the `X-Tenant` header where the route resolves a tenant, and the
problem answers (application/problem+json, the shared `Problem` schema; a 429
with its `Retry-After` header). Every signed-in route answers the tenant's
budget (`tenant_rate_limited`, syncd/fair_limits.py) and the pushes its push
caps, so those are added here rather than declared on each route. A
route without a description still appears, marked `x-undocumented`; a route
marked `not_api` (the admin console's pages) does not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from protocol.roles import Role
from syncd.auth import errors
from syncd.auth.permissions import ROLE_PERMISSIONS, Permission, permission_of
from syncd.fair_limits import PUSH_PATHS, ServerBusy, TenantRateLimited, TooManyPushes
from syncd.openapi import Answer, Binary, Description, description_of, is_api
from syncd.openapi.components import Components, Mode, Problem, referenced
from syncd.tenancy import TENANT_HEADER
from syncd.web import problems as p

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
DEFAULT_SEGMENT = "[^{}/]+"  # aiohttp's pattern for a plain `{name}`

INTRO = """\
The syncd HTTP API. Sign in with `POST /auth/login` (naming the tenant with the
`X-Tenant` header) and send the access token as `Authorization: Bearer <token>`;
the token names the tenant from then on. Every error is an RFC 9457 problem
(`application/problem+json`) with a stable `code` to branch on. The sync
payloads are specified in docs/protocol.md. This document is generated from
the server's own route table (`syncd openapi` prints it offline).
"""


_PROTECTED: tuple[type[p.Problem], ...] = (
    errors.TokenMissing,
    errors.TokenInvalid,
    errors.TokenExpired,
    errors.SessionRevoked,
    errors.PermissionDenied,
    p.TenantMismatch,
    p.TenantNotFound,
    TenantRateLimited,  # every signed-in request spends the tenant's budget
)
_PUSH: tuple[type[p.Problem], ...] = (TooManyPushes, ServerBusy)
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again (also `retry_after` in the body)",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_NAMED_TENANT: tuple[type[p.Problem], ...] = (p.TenantRequired, p.TenantNotFound)
_JSON_BODY: tuple[type[p.Problem], ...] = (
    p.PayloadTooLarge,
    p.UnsupportedMediaType,
    p.MalformedJSON,
    p.ValidationFailed,
)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Any
    patterns: dict[str, str]

    @property
    def permission(self) -> Permission | None:
        return permission_of(self.handler)

    @property
    def description(self) -> Description | None:
        return description_of(self.handler)


def routes_of(app: web.Application) -> list[Route]:
    """Every (method, path) of the API but HEAD, in registration order."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None or not is_api(route.handler):
            continue
        info = resource.get_info()
        pattern = info.get("pattern")
        patterns = _segment_patterns(pattern.pattern) if pattern is not None else {}
        found.append(Route(route.method, resource.canonical, route.handler, patterns))
    return found


def _segment_patterns(regex: str) -> dict[str, str]:
    """`{name: its regex}` from aiohttp's compiled `(?P<name>...)` groups."""
    found: dict[str, str] = {}
    for match in re.finditer(r"\(\?P<(\w+)>", regex):
        depth, index, in_class = 1, match.end(), False
        while depth and index < len(regex):
            char = regex[index]
            if char == "\\":
                index += 1
            elif in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char in "()":
                depth += 1 if char == "(" else -1
            index += 1
        found[match.group(1)] = regex[match.end() : index - 1]
    return found


def build_document(app: web.Application) -> dict[str, Any]:
    routes = routes_of(app)
    schemas = Components(filter(None, (route.description for route in routes)))
    names = Counter(route.handler.__name__ for route in routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation = _Operation(route, schemas, names).build()
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    tags = sorted({tag for item in paths.values() for op in item.values() for tag in op["tags"]})
    components = referenced(schemas.schemas, paths)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "syncd", "version": _version(), "description": INTRO},
        "tags": [{"name": tag} for tag in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "the access token from POST /auth/login or /auth/refresh",
                }
            },
        },
    }


def _version() -> str:
    try:
        return metadata.version("syncd")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed
        return "0.0.0"


class _Operation:
    def __init__(self, route: Route, schemas: Components, names: Counter[str]) -> None:
        self.route = route
        self.schemas = schemas
        self.described = route.description
        self.permission = route.permission
        self.names = names

    def build(self) -> dict[str, Any]:
        described = self.described
        operation: dict[str, Any] = {
            "operationId": self._operation_id(),
            "tags": list(described.tags if described and described.tags else [self._tag()]),
        }
        if described is not None:
            operation["summary"] = described.summary
        operation["description"] = self._description()
        operation["x-permission"] = str(self.permission or "undeclared")
        if self.permission is not Permission.PUBLIC:
            operation["security"] = [{SECURITY_SCHEME: []}]
        else:
            operation["security"] = []
        parameters = self._parameters()
        if parameters:
            operation["parameters"] = parameters
        if described is not None and described.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": self._content(described.body, "validation"),
            }
        operation["responses"] = self._responses()
        if described is None:
            operation["x-undocumented"] = True
        return operation

    def _operation_id(self) -> str:
        name: str = self.route.handler.__name__
        if self.names[name] > 1:
            # `live_routes` names the feature `live`, as `live` did before it was split
            module = self.route.handler.__module__.rsplit(".", 1)[-1].removesuffix("_routes")
            return f"{module}_{name}"
        return name

    def _tag(self) -> str:
        return self.route.path.strip("/").split("/", 1)[0] or "root"

    def _description(self) -> str:
        parts = (
            [self.described.description] if self.described and self.described.description else []
        )
        parts.append(_access(self.permission))
        return "\n\n".join(part for part in parts if part)

    def _resolves_tenant(self) -> bool:
        if self.permission is not Permission.PUBLIC:
            return True
        return self.described is not None and self.described.tenant

    def _parameters(self) -> list[dict[str, Any]]:
        described = self.described
        path_model = described.path if described else None
        typed = {name: schema for name, schema, _ in self.schemas.parameters(path_model)}
        parameters = []
        for name in re.findall(r"\{(\w+)", self.route.path):
            schema = typed.get(name, {"type": "string"})
            regex = self.route.patterns.get(name, DEFAULT_SEGMENT)
            if regex != DEFAULT_SEGMENT and name not in typed:
                schema = {**schema, "pattern": f"^{regex}$"}
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        if described is not None and described.query is not None:
            for name, schema, required in self.schemas.parameters(described.query):
                parameter: dict[str, Any] = {"name": name, "in": "query", "required": required}
                if "description" in schema:
                    parameter["description"] = schema.pop("description")
                parameters.append({**parameter, "schema": schema})
        if self._resolves_tenant():
            parameters.append(_tenant_header(self.permission is Permission.PUBLIC))
        for name, meaning in (described.headers if described else {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "header",
                    "required": False,
                    "description": meaning,
                    "schema": {"type": "string"},
                }
            )
        return parameters

    def _content(self, answer: type[BaseModel] | Binary, mode: Mode) -> dict[str, Any]:
        if isinstance(answer, Binary):
            return {media: {"schema": _raw_schema(media)} for media in answer.media_types}
        return {"application/json": {"schema": self.schemas.ref(answer, mode)}}

    def _responses(self) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        declared = self.described.responses if self.described else {}
        for status, answer in sorted(declared.items()):
            responses[str(status)] = self._success(status, answer)
        if not declared:
            responses["200"] = {
                "description": "Not described yet: a JSON object",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        problem_ref = self.schemas.ref(Problem, "serialization")
        for status, lines in sorted(self._problems().items()):
            text = HTTPStatus(status).phrase
            if lines:
                text += ":\n\n" + "\n".join(f"- {line}" for line in lines)
            responses[str(status)] = {
                "description": text,
                "content": {p.PROBLEM_CONTENT_TYPE: {"schema": problem_ref}},
            }
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                responses[str(status)]["headers"] = RETRY_AFTER
        return responses

    def _success(self, status: int, answer: Answer) -> dict[str, Any]:
        text = HTTPStatus(status).phrase
        if isinstance(answer, Binary) and answer.description:
            text = answer.description
        elif isinstance(answer, type) and answer.__doc__:
            text = answer.__doc__.strip().splitlines()[0]
        response: dict[str, Any] = {"description": text}
        if answer is not None:
            response["content"] = self._content(answer, "serialization")
        return response

    def _problems(self) -> dict[int, list[str]]:
        found: list[int | type[p.Problem]] = [p.InternalError]
        if self.permission is not Permission.PUBLIC:
            found.extend(_PROTECTED)
            if self.route.method == "POST" and self.route.path in PUSH_PATHS:
                found.extend(_PUSH)
        elif self._resolves_tenant():
            found.extend(_NAMED_TENANT)
        described = self.described
        if described is not None:
            if isinstance(described.body, type):
                found.extend(_JSON_BODY)
            if described.query is not None:
                found.append(p.ValidationFailed)
            found.extend(described.problems)
        by_status: dict[int, list[str]] = {}
        for item in found:
            status = item if isinstance(item, int) else item.status
            lines = by_status.setdefault(status, [])
            if not isinstance(item, int):
                line = f"`{item.code}`: {item.title}"
                if line not in lines:
                    lines.append(line)
        return by_status


def _raw_schema(media_type: str) -> dict[str, Any]:
    if media_type.startswith("text/") or media_type.endswith(("javascript", "+json")):
        return {"type": "string"}
    return {"type": "string", "format": "binary"}


def _tenant_header(public: bool) -> dict[str, Any]:
    meaning = (
        "the tenant's slug or id (or use its subdomain of the base domain)"
        if public
        else "optional: the token names the tenant; if sent, it must name the same one"
    )
    return {
        "name": TENANT_HEADER,
        "in": "header",
        "required": False,
        "description": meaning,
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    }


def _access(permission: Permission | None) -> str:
    if permission is None:
        return "Declares no permission: refused."
    if permission is Permission.PUBLIC:
        return "**Access:** public, no token."
    if permission is Permission.AUTHENTICATED:
        return "**Access:** any signed-in user (`authenticated`)."
    if permission is Permission.PLATFORM:
        return "**Access:** platform operators only (`platform`)."
    roles = ", ".join(role.value for role in Role if permission in ROLE_PERMISSIONS[role])
    return f"**Access:** the `{permission.value}` permission (roles: {roles})."
