"""The OpenAPI document and /docs: valid 3.1, complete, described, and guarded in production.

Routes come from the app's own route table, so a route added later must be
described (`@describe`) the moment it exists, or these tests fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.auth.permissions import Permission, permission_of
from syncd.openapi import is_api
from syncd.openapi.document import build_document
from tests.support.factories import signed_in
from tests.support.services import make_settings

PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def app_and_doc(tmp_path_factory: pytest.TempPathFactory) -> tuple[web.Application, Any]:
    app = create_app(make_settings(tmp_path_factory.mktemp("openapi")))
    return app, build_document(app)


@pytest.fixture(scope="module")
def doc(app_and_doc: tuple[web.Application, Any]) -> Any:
    return app_and_doc[1]


def operations(doc: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi_3_1(doc: Any) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_every_route_appears_with_its_method(app_and_doc: tuple[web.Application, Any]) -> None:
    """Every route of the API; the console's pages (`not_api`, docs/console.md) are not API."""
    app, doc = app_and_doc
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None and is_api(route.handler)
    }
    pages = {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource is not None and not is_api(route.handler)
    }
    assert pages, "the console's pages are routes of the app"
    assert all(path == "/" or path.startswith("/console/") for path in pages), pages
    documented = {(method, path) for method, path, _ in operations(doc)}
    assert routes - documented == set()
    assert documented - routes == set()
    assert {("POST", "/sync/push"), ("GET", "/docs"), ("GET", "/openapi.json")} <= documented


def test_every_operation_is_described_with_its_access(
    app_and_doc: tuple[web.Application, Any],
) -> None:
    app, doc = app_and_doc
    permissions = {
        (route.method, route.resource.canonical): permission_of(route.handler)
        for route in app.router.routes()
        if route.resource is not None
    }
    missing: list[str] = []
    for method, path, operation in operations(doc):
        where = f"{method} {path}"
        if not operation.get("summary") or operation.get("x-undocumented"):
            missing.append(f"{where}: no summary (add @describe)")
        if not any(int(code) < 400 for code in operation["responses"]):
            missing.append(f"{where}: no success response")
        permission = permissions[(method, path)]
        assert permission is not None, where
        assert operation["x-permission"] == permission.value, where
        assert permission.value in operation["description"], where
        if permission is Permission.PUBLIC:
            assert operation["security"] == [], where
        else:
            assert operation["security"] == [{"bearerAuth": []}], where
            assert {"401", "403"} <= set(operation["responses"]), where
    assert missing == []
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert len({op["operationId"] for _, _, op in operations(doc)}) == len(operations(doc))


def test_every_error_answer_is_a_problem(doc: Any) -> None:
    for method, path, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response["content"]
                assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
                assert content["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
        assert "500" in operation["responses"]
    schemas = doc["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "code",
        "request_id",
        "errors",
        "retry_after",
    }
    assert set(schemas["FieldError"]["required"]) == {"field", "code", "message"}


def test_every_limited_route_documents_its_429_and_retry_after(doc: Any) -> None:
    """A signed-in route spends the tenant's budget; the pushes take push slots;
    login and forgot-password are throttled: each says so, with Retry-After."""
    throttled = {("POST", "/auth/login"), ("POST", "/auth/forgot-password")}
    pushes = {("POST", "/sync/push"), ("POST", "/sync/tasks")}
    limited = 0
    for method, path, operation in operations(doc):
        answer = operation["responses"].get("429")
        signed_in = operation["x-permission"] != "public"
        if not signed_in and (method, path) not in throttled:
            continue
        limited += 1
        assert answer is not None, f"{method} {path}"
        assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert answer["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
        codes = set(re.findall(r"`(\w+)`", answer["description"]))
        if signed_in:
            assert "tenant_rate_limited" in codes, f"{method} {path}"
        if (method, path) in pushes:
            assert {"too_many_pushes", "server_busy"} <= codes, f"{method} {path}"
    assert limited > 50
    login = doc["paths"]["/auth/login"]["post"]["responses"]["429"]["description"]
    forgot = doc["paths"]["/auth/forgot-password"]["post"]["responses"]["429"]["description"]
    assert "`login_throttled`" in login
    assert "`reset_throttled`" in forgot
    assert "429" not in doc["paths"]["/health/live"]["get"]["responses"]


def test_parameters_path_and_tenant_header(doc: Any) -> None:
    for method, path, operation in operations(doc):
        parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
        for name in re.findall(r"\{(\w+)\}", path):
            assert parameters[("path", name)]["required"] is True, f"{method} {path}"
        if operation["x-permission"] != "public":
            assert ("header", "X-Tenant") in parameters, f"{method} {path}"
    login = doc["paths"]["/auth/login"]["post"]
    assert any(p["name"] == "X-Tenant" for p in login["parameters"])
    user = doc["paths"]["/users/{user_id}"]["get"]["parameters"][0]
    assert user["schema"] == {"type": "string", "format": "uuid"}
    query = {p["name"] for p in doc["paths"]["/users"]["get"]["parameters"] if p["in"] == "query"}
    assert query == {"role", "status", "q", "cursor", "limit"}


def test_models_and_codes_reach_the_document(doc: Any) -> None:
    login = doc["paths"]["/auth/login"]["post"]
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/LoginBody"}
    assert doc["components"]["schemas"]["LoginBody"]["additionalProperties"] is False
    assert "`invalid_credentials`" in login["responses"]["401"]["description"]
    assert "`login_throttled`" in login["responses"]["429"]["description"]
    ok = login["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/TokenPairRead"}
    logo = doc["paths"]["/tenant/logo"]["put"]["requestBody"]["content"]
    assert set(logo) == {"image/png", "image/jpeg", "image/webp"}
    assert "content" not in doc["paths"]["/auth/logout"]["post"]["responses"]["204"]


async def test_openapi_json_is_the_generated_document(client: Any, doc: Any) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    served = await response.json()
    assert served["paths"].keys() == doc["paths"].keys()
    assert served == await (await client.get("/openapi.json")).json()


async def test_docs_serves_swagger_ui_from_local_assets(client: Any) -> None:
    response = await client.get("/docs")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    assert not [a for a in assets if not a.startswith("/docs/static/")]
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"} <= set(assets)
    for asset in assets:
        answer = await client.get(asset)
        assert answer.status == 200, asset
        assert len(await answer.read()) > 100, asset
    init = await (await client.get("/docs/static/syncd-docs.js")).text()
    assert '"/openapi.json"' in init
    assert "SwaggerUIBundle" in init
    missing = await client.get("/docs/static/secrets.json")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"


async def test_production_docs_need_an_admin_token(
    database_url: str,
    tmp_path: Path,
    aiohttp_client: Any,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, SYNCD_ENV="production")
    client = await aiohttp_client(create_app(settings))
    admin = await signed_in(client, sessions, Role.ADMIN)
    staff = await signed_in(client, sessions, Role.STAFF, admin.tenant)
    for path in ("/openapi.json", "/docs"):
        anonymous = await client.get(path)
        assert anonymous.status == 401, path
        assert (await anonymous.json())["code"] == "token_missing"
        refused = await client.get(path, headers=staff.headers)
        assert refused.status == 403, path
        allowed = await client.get(path, headers=admin.headers)
        assert allowed.status == 200, path
    assets = await client.get("/docs/static/swagger-ui.css")
    assert assets.status == 200  # Swagger UI's own files are the same everywhere
    served = await (await client.get("/openapi.json", headers=admin.headers)).json()
    assert served["paths"]["/docs"]["get"]["x-permission"] == "api:docs"
