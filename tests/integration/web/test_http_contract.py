"""The HTTP contract under hostile requests (#15): methods, strict queries, U+0000,
aiohttp's own 400s, slow heads and bodies, hang-ups. On SQLite and PostgreSQL.

The raw-socket tests run the application on `syncd.server.ProblemRunner` (what
`syncd serve` runs) with tiny timeouts: they wait for the server's answer,
never for a clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.web_urldispatcher import PlainResource
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.server import ProblemRunner
from tests.support.factories import signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["code"] for error in body.get("errors", [])]


# --- 1. wrong methods -------------------------------------------------------------------


async def test_a_wrong_method_on_a_plain_path_is_405_with_allow(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    answer = await client.get("/users/invite", headers=admin.headers)
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    body = await answer.json()
    assert body["code"] == "method_not_allowed"
    arabic = await client.get("/users/invite", headers=admin.headers | {"Accept-Language": "ar"})
    assert (await arabic.json())["title"] != body["title"]


async def test_every_plain_path_refuses_the_methods_it_lacks(
    app: web.Application, client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    plain: dict[str, set[str]] = {}
    for resource in app.router.resources():
        if isinstance(resource, PlainResource) and not resource.canonical.startswith("/console"):
            plain.setdefault(resource.canonical, set()).update(r.method for r in resource)
    assert "/users/invite" in plain
    for path, methods in plain.items():
        wrong = next(m for m in ("DELETE", "PUT", "PATCH", "GET") if m not in methods)
        answer = await client.request(wrong, path, headers=admin.headers)
        assert answer.status == 405, (wrong, path, await answer.text())
        assert set(answer.headers["Allow"].split(",")) == methods, path


# --- 2. strict query types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "code"),
    [
        ("/purchases?until=0.5", "until", "datetime_parsing"),
        ("/receipts?since=1700000000", "since", "datetime_parsing"),
        ("/admin/audit?until=0.5", "until", "datetime_parsing"),
        ("/admin/audit?since=2026-01-01", "since", "datetime_parsing"),
        ("/tasks?due_from=1700000000", "due_from", "datetime_parsing"),
        ("/conflicts?since=0.5", "since", "datetime_parsing"),
        ("/users?limit=abc", "limit", "int_parsing"),
        ("/users?limit=1.0", "limit", "int_parsing"),
        ("/users?limit=0", "limit", "out_of_range"),
        ("/users?limit=9223372036854775808", "limit", "out_of_range"),
        ("/sync/pull?limit=abc", "limit", "int_parsing"),
        ("/sync/pull?limit=-1", "limit", "out_of_range"),
        ("/sync/pull?client_id=a%20b", "client_id", "string_pattern_mismatch"),
        ("/tasks?limit=99999999999999999999", "limit", "out_of_range"),
    ],
)
async def test_query_values_have_strict_types(
    client: Any, sessions: Sessions, url: str, field: str, code: str
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    answer = await client.get(url, headers=admin.headers)
    assert answer.status == 422, await answer.text()
    body = await answer.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == field
    assert error_codes(body) == [code]


async def test_well_typed_queries_still_answer(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    for url in (
        "/purchases?until=2026-12-06T10:00:00Z",
        "/admin/audit?since=2026-12-06T10:00:00%2B03:00&limit=5",
        "/conflicts?since=2026-12-06T10:00:00Z",
        "/tasks?due_from=2026-12-06T10:00:00.5Z&limit=200",
        "/sync/pull?limit=10&client_id=phone-1",
    ):
        answer = await client.get(url, headers=admin.headers)
        assert answer.status == 200, (url, await answer.text())


# --- 3. U+0000 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "where"),
    [
        ("GET", "/users?q=a%00b", "query.q"),
        ("GET", "/tasks?q=%00", "query.q"),
        ("GET", "/sync/pull?client_id=dev%00", "query.client_id"),
        ("GET", "/purchases?currency=SA%00", "query.currency"),
        ("GET", "/tasks/%00", "path"),
        ("POST", "/sync/tasks?x%00=1", "query.x"),
    ],
)
async def test_nul_in_a_query_or_path_is_a_422_not_a_500(
    client: Any, sessions: Sessions, method: str, url: str, where: str
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    answer = await client.request(method, url, headers=admin.headers, json={"changes": []})
    assert answer.status == 422, await answer.text()
    body = await answer.json()
    assert body["errors"] == [{"field": where, "code": "nul_character", "message": "U+0000 (NUL)"}]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/auth/login", {"email": "a\x00@example.com", "password": "x" * 12}),
        ("POST", "/sync/tasks", {"changes": [], "client_id": "dev\x00"}),
        ("PATCH", "/tenant", {"name": "Acme\x00"}),
    ],
)
async def test_nul_in_a_body_is_a_422_not_a_500(
    client: Any, sessions: Sessions, method: str, url: str, body: dict[str, Any]
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    answer = await client.request(method, url, headers=admin.headers, json=body)
    assert answer.status == 422, await answer.text()
    assert "nul_character" in error_codes(await answer.json())


# --- 4 and 5. the server below the application --------------------------------------------


@pytest.fixture
async def raw_server(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, HEADER_TIMEOUT_S="0.3", BODY_TIMEOUT_S="0.3"
    )
    runner = ProblemRunner(create_app(settings), header_timeout_s=settings.header_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield "127.0.0.1", port
    finally:
        await runner.cleanup()


async def exchange(address: tuple[str, int], data: bytes, *, close: bool = False) -> bytes:
    """Send `data`, then read the answer until the server closes the connection."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    if close:
        writer.close()
        return b""
    answer = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    return answer


def problem_of(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /health/live HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ],
)
async def test_aiohttps_own_refusals_are_problems(
    raw_server: tuple[str, int], request_bytes: bytes
) -> None:
    with structlog.testing.capture_logs() as logs:
        status, headers, body = problem_of(await exchange(raw_server, request_bytes))
    assert status == 400
    assert headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert body["code"] == "malformed_request"
    assert body["type"] == "urn:syncd:problem:malformed_request"
    assert "Traceback" not in body["detail"]
    assert [e["event"] for e in logs] == ["malformed HTTP request refused"]


async def test_a_slow_head_is_cut_with_a_408(raw_server: tuple[str, int]) -> None:
    status, headers, body = problem_of(await exchange(raw_server, b"GET /health/li"))
    assert status == 408
    assert headers["Connection"] == "close"
    assert body["code"] == "request_timeout"


async def test_a_slow_body_is_cut_after_its_timeout(
    raw_server: tuple[str, int], sessions: Sessions
) -> None:
    request = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nX-Tenant: demo\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"email": "'
    )
    with structlog.testing.capture_logs() as logs:
        status, headers, body = problem_of(await exchange(raw_server, request))
    assert status == 408
    assert body["code"] == "request_timeout"
    assert body["detail"] == "the body did not arrive within 0.3 seconds"
    assert headers["Connection"] == "close"
    assert "request body too slow" in [e["event"] for e in logs]


async def test_a_client_hanging_up_mid_body_is_one_log_line(
    raw_server: tuple[str, int],
) -> None:
    request = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nX-Tenant: demo\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    with structlog.testing.capture_logs() as logs:
        await exchange(raw_server, request, close=True)
        for _ in range(1000):  # wait for the server to notice (bounded, not a timing test)
            if logs:
                break
            await asyncio.sleep(0.005)
    events = [e["event"] for e in logs]
    assert events == ["client hung up during the body"], logs
    assert not any("exc_info" in e or "exception" in e for e in logs)


# --- 7. bodies and the document state the same rules -------------------------------------


async def test_a_date_time_in_a_body_is_text_not_a_unix_time(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    answer = await client.post("/tasks", headers=admin.headers, json={"title": "x", "due_at": 0})
    assert answer.status == 422, await answer.text()
    body = await answer.json()
    assert [e["field"] for e in body["errors"]] == ["due_at"]
    fine = await client.post(
        "/tasks", headers=admin.headers, json={"title": "x", "due_at": "2026-12-06T10:00:00Z"}
    )
    assert fine.status == 201, await fine.text()


async def test_the_document_states_the_servers_rules(client: Any) -> None:
    document = await (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def props(name: str) -> dict[str, Any]:
        return schemas[name]["properties"]  # type: ignore[no-any-return]

    assert props("RegisterBody")["password"]["minLength"] == 10
    assert props("RegisterBody")["password"]["maxLength"] == 72
    assert props("PurchaseCreate")["currency"]["pattern"] == "^[A-Z]{3}$"
    assert schemas["TaskPatch"]["minProperties"] == 1
    assert "At least one field besides `updated_at`" in schemas["TaskPatch"]["description"]
    custom = schemas["ResolveBody"]["oneOf"][1]
    assert custom["required"] == ["values"]
    assert custom["properties"]["resolution"] == {"const": "custom"}
    assert props("TenantUpdate")["time_zone"]["pattern"].startswith("^[A-Za-z]")
