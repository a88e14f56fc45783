"""docs/protocol.md is a contract: its push example, sent as it stands by a
technician whose tenant is at version 40, is answered exactly as documented;
so are the sign-in and refresh of its "Writing a client" section."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.sync.cursor import Cursor
from tests.support.factories import PASSWORD, make_tenant, make_user, signed_in
from tests.support.services import make_settings
from tests.support.sync import action, hlc, pull_all, push, upsert

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def json_blocks(section: str) -> list[Any]:
    """The ```json blocks of one `## ` section of docs/protocol.md, parsed."""
    text = DOC.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", body, re.S)]


async def test_the_push_example_is_answered_as_documented(
    client: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    request, answer = json_blocks("Push")[:2]
    task_id = uuid.UUID(request["changes"][0]["id"])
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    # The task, assigned to the technician (versions 1-5), then edits up to 40.
    await push(client, staff, "dash", [upsert("task", task_id, "dash", title="Pump")])
    await push(
        client,
        staff,
        "dash",
        [action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    edits = [upsert("task", task_id, "dash", title=f"Pump {n}") for n in range(35)]
    assert (await push(client, staff, "dash", edits))["cursor"] == Cursor.at(40).encode()

    got = await push(client, tech, request["client_id"], request["changes"], request["batch_id"])
    assert got == answer


async def test_the_sign_in_of_writing_a_client_is_answered_as_documented(
    client: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    login, answer = json_blocks("Writing a client")[:2]
    tenant = await make_tenant(sessions)
    await make_user(sessions, tenant, Role.TECHNICIAN, email=login["email"])
    assert login["password"] == PASSWORD
    response = await client.post("/auth/login", json=login, headers={"X-Tenant": tenant.slug})
    assert response.status == 200, await response.text()
    pair = await response.json()
    assert set(pair) == set(answer)
    assert (pair["token_type"], pair["expires_in"]) == (answer["token_type"], answer["expires_in"])
    # A lost refresh answer: the same refresh token again, within the grace, gets the
    # same next refresh token.
    body = {"refresh_token": pair["refresh_token"]}
    first = await (await client.post("/auth/refresh", json=body)).json()
    again = await client.post("/auth/refresh", json=body)
    assert again.status == 200
    assert (await again.json())["refresh_token"] == first["refresh_token"]


async def test_the_schema_versions_example_is_answered_as_documented(
    client: Any, sessions: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    problem, request, v1_change, window = json_blocks("Schema versions")
    change = request["changes"][0]
    task_id = uuid.UUID(change["id"])
    tenant = await make_tenant(sessions)
    dispatcher = await signed_in(client, sessions, Role.ADMIN, tenant)
    created = upsert("task", task_id, "desk", title="Replace pump seal", **window)
    created["hlc"] = hlc("desk", 1_764_000_000_000)  # before the old app's edit
    await push(client, dispatcher, "desk", [created], schema=2)
    answer = await push(client, dispatcher, request["client_id"], request["changes"])
    assert answer["results"] == [{"id": str(task_id), "status": "applied", "version": 3}]
    volatile = {"created_at", "updated_at", "created_by"}

    async def pulled(schema: int | None) -> dict[str, Any]:
        changes, _ = await pull_all(client, dispatcher, schema=schema)
        (found,) = [c for c in changes if c["entity"] == "task"]
        return found

    old = await pulled(None)
    assert {**old, "data": {k: v for k, v in old["data"].items() if k not in volatile}} == {
        **v1_change,
        "data": {k: v for k, v in v1_change["data"].items() if k not in volatile},
    }
    new = (await pulled(2))["data"]
    assert new == {**old["data"], **window}
    # Too old: the documented problem, exactly (but its request id).
    strict = create_app(make_settings(tmp_path, DATABASE_URL=database_url, SYNC_MIN_SCHEMA="2"))
    server = TestClient(TestServer(strict))
    await server.start_server()
    try:
        response = await server.post("/sync/push", json=request, headers=dispatcher.headers)
        assert response.status == 426
        body = await response.json(content_type=None)
        body.pop("request_id")
        assert body == problem
    finally:
        await server.close()


def test_the_documented_step_is_the_declared_one() -> None:
    text = DOC.read_text()
    start = text.index("\n## Schema versions\n")
    (block,) = re.findall(
        r"```python\n(.*?)```", text[start : text.index("\n## ", start + 1)], re.S
    )
    source = (Path(__file__).resolve().parents[3] / "protocol" / "versions.py").read_text()
    assert block in source


def doc_block_with(marker: str) -> Any:
    """The ```json block of docs/protocol.md that contains `marker`, parsed."""
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S):
        if marker in block:
            return json.loads(block)
    raise AssertionError(f"no json block with {marker!r}")


async def test_the_signature_entry_is_taken_and_pulled_back_as_documented(
    client: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    change = doc_block_with('"kind": "signature"')
    task_id = uuid.UUID(change["fields"]["task_id"])
    tenant = await make_tenant(sessions)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    await push(client, staff, "dash", [upsert("task", task_id, "dash", title="Pump")])
    await push(
        client,
        staff,
        "dash",
        [action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    answer = await push(client, tech, "dev-a", [change])
    assert [r["status"] for r in answer["results"]] == ["applied"]
    pulled = await (await client.get("/sync/pull", headers=tech.headers)).json()
    [row] = [c["data"] for c in pulled["changes"] if c["id"] == change["id"]]
    assert row["kind"] == "signature"
    assert row["payload"] == change["fields"]["payload"]
    assert row["client_time"] == change["fields"]["client_time"]


def test_the_errors_table_lists_the_auth_codes() -> None:
    errors = DOC.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    for code in ("refresh_reused", "refresh_invalid", "invalid_credentials", "login_throttled"):
        assert f"`{code}`" in errors, code
