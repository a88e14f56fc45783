"""Hostile input from a signed-in device cannot poison a tenant or fail a batch (#15).

Deep values, integers beyond 64 bits, U+0000, forged cursors and versions,
booleans for numbers: each is refused where it stands (one change, one frame,
one request) with a stable code, the rest of the batch applies, and every
pull afterwards still answers 200. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import Replica, hlc, pull_all, push, upsert
from tests.support.ws import closed_with, connect, next_json, until

Sessions = async_sessionmaker[AsyncSession]


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def note(task_id: uuid.UUID, payload: Any, node: str = "dev") -> dict[str, Any]:
    return upsert(
        "task_event", uuid.uuid4(), node, task_id=str(task_id), kind="note", payload=payload
    )


async def staff_with_task(client: Any, sessions: Sessions) -> tuple[Account, uuid.UUID]:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = uuid.uuid4()
    await push(client, staff, "dev", [upsert("task", task_id, "dev", title="Pump")])
    return staff, task_id


def codes(result: dict[str, Any]) -> list[str]:
    return [error["code"] for error in result["problem"].get("errors", [])]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"v": deep(255)}, "too_deep"),
        ({"v": deep(40)}, "too_deep"),
        ({"v": 2**64}, "integer_out_of_range"),
        ({"v": 2**63}, "integer_out_of_range"),
        ({"v": "a\x00b"}, "nul_character"),
        ({"a\x00": 1}, "nul_character"),
    ],
)
async def test_a_bad_value_rejects_its_change_alone_and_pulls_stay_healthy(
    client: Any, sessions: Sessions, payload: Any, code: str
) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    good = note(task_id, {"text": "fine"})
    answer = await push(
        client, staff, "dev", [good, note(task_id, payload), good | {"id": str(uuid.uuid4())}]
    )
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["applied", "rejected", "applied"], answer
    assert codes(answer["results"][1]) == [code]
    changes, _ = await pull_all(client, staff)
    orjson.dumps(changes)
    rejected = await client.get("/sync/rejections", headers=staff.headers)
    assert rejected.status in (200, 403)


async def test_nul_anywhere_in_a_change_is_its_own_rejection(
    client: Any, sessions: Sessions
) -> None:
    staff, _ = await staff_with_task(client, sessions)
    answer = await push(
        client,
        staff,
        "dev",
        [
            {
                "entity": "ta\x00sk",
                "id": str(uuid.uuid4()),
                "op": "upsert",
                "fields": {"title": "x"},
                "hlc": hlc("dev"),
            },
            upsert("task", uuid.uuid4(), "dev", title="nul\x00title"),
            {"entity": "task", "id": "x\x00", "op": "delete", "hlc": hlc("dev")},
            upsert("task", uuid.uuid4(), "dev", title="fine"),
        ],
    )
    assert [r["status"] for r in answer["results"]] == ["rejected"] * 3 + ["applied"]
    assert all(codes(r) == ["nul_character"] for r in answer["results"][:3])
    # A refused change is kept for the admins as it can be stored.
    admin = await signed_in(client, sessions, Role.ADMIN, staff.tenant)
    listed = await (await client.get("/sync/rejections", headers=admin.headers)).json()
    assert len(listed["items"]) == 3
    assert all("\x00" not in orjson.dumps(item).decode() for item in listed["items"])


async def test_nul_in_a_rest_body_is_a_validation_problem(client: Any, sessions: Sessions) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    login = await client.post(
        "/auth/login",
        json={"email": "a\x00@example.com", "password": "x"},
        headers={"X-Tenant": staff.tenant.slug},
    )
    assert login.status == 422
    assert (await login.json())["errors"][0]["code"] == "nul_character"
    patched = await client.patch(
        f"/tasks/{task_id}", json={"title": "a\x00"}, headers=staff.headers
    )
    assert patched.status == 422
    assert (await patched.json())["code"] == "validation_failed"


async def test_a_body_past_the_parsers_depth_is_malformed_as_a_whole(
    client: Any, sessions: Sessions
) -> None:
    staff, _ = await staff_with_task(client, sessions)
    body = (
        b'{"client_id": "dev", "batch_id": "b1", "changes": [' + b"[" * 2000 + b"]" * 2000 + b"]}"
    )
    response = await client.post(
        "/sync/push", data=body, headers={**staff.headers, "Content-Type": "application/json"}
    )
    assert response.status == 422
    assert (await response.json())["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"location": {"lat": 1.0, "lng": False}}, "location.lng"),
        ({"location": {"lat": "1.5"}}, "location.lat"),
    ],
)
async def test_numbers_are_numbers(
    client: Any, sessions: Sessions, fields: dict[str, Any], field: str
) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    answer = await push(client, staff, "dev", [upsert("task", task_id, "dev", base=1, **fields)])
    (result,) = answer["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["errors"][0]["field"] == field


async def test_purchase_amounts_are_integers_not_flags(client: Any, sessions: Sessions) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    answer = await push(
        client,
        staff,
        "dev",
        [
            upsert(
                "purchase",
                uuid.uuid4(),
                "dev",
                task_id=str(task_id),
                vendor="v",
                amount_minor=True,
                currency="SAR",
                purchased_at="2026-11-24T09:20:00Z",
            )
        ],
    )
    assert answer["results"][0]["problem"]["errors"][0]["field"] == "amount_minor"


@pytest.mark.parametrize("base", [2**63, 2**63 - 1, 10**9])
async def test_a_base_version_the_tenant_has_not_reached_is_rejected(
    client: Any, sessions: Sessions, base: int
) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    answer = await push(
        client, staff, "dev", [upsert("task", task_id, "dev", base=base, title="x")]
    )
    (result,) = answer["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["errors"][0]["field"] == "base_version"


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        "v1.c.1000000000",
        "v1.c.18446744073709551616",
        "v1.c.99999999999999999999999999",
        "v1.c.-1",
        "v1.c.+5",
        "v1.c.1_0",
        "v2.s.1000000000.task.-",
        "v2.s.1.no_such_entity.-",
        "v1.s.1.6.-",
        "v1.s.1.99999999999999999999.-",
    ],
)
async def test_a_forged_cursor_is_invalid(client: Any, sessions: Sessions, raw: str) -> None:
    staff, _ = await staff_with_task(client, sessions)
    response = await client.get("/sync/pull", params={"since": cursor(raw)}, headers=staff.headers)
    assert response.status == 422, await response.text()
    assert (await response.json())["code"] == "invalid_cursor"


async def test_a_forged_cursor_in_the_hello_closes_4400(client: Any, sessions: Sessions) -> None:
    staff, _ = await staff_with_task(client, sessions)
    ws = await connect(client, staff, cursor("v1.c.1000000000"))
    assert await closed_with(ws) == 4400


async def test_snapshot_cursors_made_before_entities_were_named_still_resume(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    await push(
        client, staff, "dev", [upsert("task", uuid.uuid4(), "dev", title=f"t{n}") for n in range(4)]
    )
    whole = Replica()
    await whole.sync(client, staff)
    first = await (
        await client.get("/sync/pull", params={"limit": "5"}, headers=staff.headers)
    ).json()
    last = first["changes"][-1]
    assert last["entity"] == "task_event"  # 4 tasks, then the first of their events
    legacy = cursor(f"v1.s.8.2.{last['id']}")  # entity index 2: task_event, as v1 counted
    resumed = Replica()
    resumed.apply(first["changes"])
    rest, _ = await pull_all(client, staff, since=legacy)
    resumed.apply(rest)
    assert resumed.rows == whole.rows


async def test_socket_frames_each_get_one_answer(client: Any, sessions: Sessions) -> None:
    staff, task_id = await staff_with_task(client, sessions)
    ws = await connect(client, staff)
    await until(ws, "caught_up")
    await ws.send_str("not json")
    assert (await next_json(ws))["problem"]["code"] == "malformed_json"
    await ws.send_str('{"type": "push", "geo": NaN}')  # Python's json writes it; JSON has none
    assert (await next_json(ws))["problem"]["code"] == "malformed_json"
    await ws.send_str(json.dumps({"type": "ping", "x": deep(300)}))
    refused = await next_json(ws)
    assert (refused["type"], refused["problem"]["code"]) == ("error", "validation_failed")
    assert refused["problem"]["errors"][0]["code"] == "too_deep"
    await ws.send_json({"type": "ping"})
    assert await next_json(ws) == {"type": "pong"}  # one answer per frame, nothing more
    changes = [note(task_id, {"v": 2**64}), note(task_id, {"v": 2**63 - 1})]
    await ws.send_str(
        json.dumps({"type": "push", "client_id": "dev", "batch_id": "w1", "changes": changes})
    )
    frames = await until(ws, "push_result")
    result = frames[-1]
    assert [r["status"] for r in result["results"]] == ["rejected", "applied"], result
    await ws.close()


payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=30,
)
raw_changes = st.fixed_dictionaries(
    {
        "entity": st.sampled_from(["task", "task_event", "purchase", "nope", "t\x00"]),
        "op": st.sampled_from(["upsert", "delete", "action", "ydoc", "x"]),
        "fields": st.dictionaries(
            st.sampled_from(["title", "payload", "kind", "task_id", "priority", "location", "z"]),
            payloads,
            max_size=4,
        ),
        "base_version": st.integers(min_value=-1, max_value=2**64),
    },
    optional={"action": st.text(max_size=10), "geo": payloads, "reason": st.text(max_size=10)},
)


@seed(15)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(raw_changes, min_size=1, max_size=8))
async def test_fuzzed_pushes_answer_and_everything_stored_reads_back(
    client: Any, sessions: Sessions, batch: list[dict[str, Any]]
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    task_id = uuid.uuid4()
    await push(client, admin, "dev", [upsert("task", task_id, "dev", title="Pump")])
    changes = []
    for raw in batch:
        change = dict(raw, id=str(uuid.uuid4()), hlc=hlc("dev"))
        if change["entity"] == "task_event":
            change["fields"] = {**change["fields"], "task_id": str(task_id)}
        changes.append(change)
    body = json.dumps({"client_id": "dev", "batch_id": uuid.uuid4().hex, "changes": changes})
    response = await client.post(
        "/sync/push", data=body, headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert len(answer["results"]) == len(changes)
    statuses = {r["status"] for r in answer["results"]}
    assert statuses <= {"applied", "rejected", "superseded", "conflict"}
    rows, _ = await pull_all(client, admin)
    orjson.dumps(rows)
    rejected = await client.get("/sync/rejections", headers=admin.headers)
    assert rejected.status == 200
    orjson.dumps(await rejected.json())
