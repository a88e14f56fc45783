"""Problems for every error, request ids, security headers, CORS, gzip, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import Field

from syncd.app import create_app
from syncd.auth.permissions import public
from syncd.web.body import Body, parse_body
from syncd.web.problems import PROBLEM_CONTENT_TYPE
from tests.support.services import make_settings


class Echo(Body):
    name: str = Field(min_length=1, max_length=20)
    count: int = Field(ge=0)


@public
async def echo(request: web.Request) -> web.Response:
    body = await parse_body(request, Echo)
    return web.json_response(body.model_dump())


@public
async def boom(_request: web.Request) -> web.Response:
    raise RuntimeError("SELECT secret FROM users -- must never reach a client")


@public
async def big(request: web.Request) -> web.Response:
    count = int(request.query.get("count", "100"))
    return web.json_response({"items": [f"{n:06d}" + "x" * 94 for n in range(count)]})


@pytest.fixture
async def plumbing(tmp_path: Path, aiohttp_client: Any) -> Any:
    settings = make_settings(
        tmp_path,
        MAX_BODY_BYTES="2048",
        CORS_ORIGINS="https://dash.example",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
    )
    app = create_app(settings)
    app.router.add_post("/test/echo", echo)
    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/big", big)
    return await aiohttp_client(app)


async def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == PROBLEM_CONTENT_TYPE
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:syncd:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["instance"] == response.url.path
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def test_unknown_path_is_a_404_problem(plumbing: Any) -> None:
    response = await plumbing.get("/no/such/thing")
    await assert_problem(response, 404, "not_found")


async def test_wrong_method_is_a_405_problem_with_allow(plumbing: Any) -> None:
    response = await plumbing.delete("/health/live")
    await assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


async def test_declared_oversize_body_is_413(plumbing: Any) -> None:
    response = await plumbing.post(
        "/test/echo", data=b"x" * 4096, headers={"Content-Type": "application/json"}
    )
    body = await assert_problem(response, 413, "payload_too_large")
    assert "2048" in body["detail"]


async def test_chunked_oversize_body_is_413(plumbing: Any) -> None:
    async def chunks() -> Any:
        for _ in range(8):
            yield b'{"name": "' + b"x" * 1000

    response = await plumbing.post(
        "/test/echo", data=chunks(), headers={"Content-Type": "application/json"}
    )
    await assert_problem(response, 413, "payload_too_large")


async def test_non_json_is_415(plumbing: Any) -> None:
    response = await plumbing.post(
        "/test/echo", data="name=x", headers={"Content-Type": "text/plain"}
    )
    await assert_problem(response, 415, "unsupported_media_type")


async def test_malformed_json_is_422(plumbing: Any) -> None:
    response = await plumbing.post(
        "/test/echo", data=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    await assert_problem(response, 422, "malformed_json")


async def test_validation_errors_name_fields_and_refuse_unknown_ones(plumbing: Any) -> None:
    response = await plumbing.post("/test/echo", json={"name": "", "count": -1, "extra": 1})
    body = await assert_problem(response, 422, "validation_failed")
    fields = {error["field"]: error["code"] for error in body["errors"]}
    assert fields == {
        "name": "string_too_short",
        "count": "greater_than_equal",
        "extra": "extra_forbidden",
    }


async def test_valid_body_passes(plumbing: Any) -> None:
    response = await plumbing.post("/test/echo", json={"name": "ok", "count": 2})
    assert response.status == 200
    assert await response.json() == {"name": "ok", "count": 2}


async def test_unhandled_error_is_a_500_problem_without_internals(plumbing: Any) -> None:
    response = await plumbing.get("/test/boom")
    body = await assert_problem(response, 500, "internal_error")
    text = str(body)
    assert "SELECT" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


async def test_request_id_is_echoed_or_made(plumbing: Any) -> None:
    given = await plumbing.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await plumbing.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(made.headers["X-Request-ID"]) == 32


async def test_security_headers(plumbing: Any) -> None:
    response = await plumbing.get("/health/live")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_cors_allows_configured_origin_only(plumbing: Any) -> None:
    allowed = await plumbing.get("/health/live", headers={"Origin": "https://dash.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://dash.example"
    other = await plumbing.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = await plumbing.options(
        "/test/echo",
        headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-Tenant" in preflight.headers["Access-Control-Allow-Headers"]


async def test_large_responses_are_gzipped(plumbing: Any) -> None:
    response = await plumbing.get("/test/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len((await response.json())["items"]) == 100
    assert "Accept-Encoding" in response.headers.getall("Vary")
    small = await plumbing.get("/health/live", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers


async def test_a_large_body_is_gzipped_off_the_event_loop_and_arrives_whole(
    plumbing: Any,
) -> None:
    # 10,000 items of 100 bytes: past the size compressed inline, so a worker thread packs it.
    response = await plumbing.get(
        "/test/big", params={"count": "10000"}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) < 1_000_000 / 5
    items = (await response.json())["items"]
    assert items == [f"{n:06d}" + "x" * 94 for n in range(10_000)]
    plain = await plumbing.get(
        "/test/big", params={"count": "10000"}, headers={"Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in plain.headers
    assert (await plain.json())["items"] == items
