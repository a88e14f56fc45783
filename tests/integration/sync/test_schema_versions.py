"""Old apps keep syncing (docs/protocol.md, Schema versions), on SQLite and PostgreSQL.

A version-1 app (a technician who never updated) and a current app (the
dispatcher) edit the same tasks offline and push in every order: both
replicas converge on the server's rows, the dispatcher's scheduled window
survives every version-1 write, and nothing the version-1 app receives (pull
pages, push answers, live frames) holds a field it does not know. Below the
minimum schema an app is refused: 426 `client_upgrade_required` over HTTP,
4426 on /sync/ws, and device health shows it.
"""

from __future__ import annotations

import itertools
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import versions
from protocol.roles import Role
from syncd.app import create_app
from tests.support.console import Console
from tests.support.console_world import team
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import Replica, action, pull_all, push, upsert
from tests.support.ws import closed_with, next_json, until

Sessions = async_sessionmaker[AsyncSession]
NEW = versions.unknown_at("task", 1)  # scheduled_start, scheduled_end
WINDOW = {"scheduled_start": "2026-12-08T07:00:00Z", "scheduled_end": "2026-12-08T09:30:00Z"}
LATER = {"scheduled_start": "2026-12-09T12:00:00Z", "scheduled_end": "2026-12-09T12:00:00Z"}


def task_rows(replica: Replica) -> dict[str, dict[str, Any]]:
    return {row_id: row for (entity, row_id), row in replica.rows.items() if entity == "task"}


def no_new_fields(value: Any) -> None:
    """Nothing anywhere in `value` is a field schema 1 does not know."""
    if isinstance(value, dict):
        assert not NEW & value.keys(), value
        for item in value.values():
            no_new_fields(item)
    elif isinstance(value, list):
        for item in value:
            no_new_fields(item)


async def crew(client: Any, sessions: Sessions) -> tuple[Account, Account]:
    tenant = await make_tenant(sessions)
    return (
        await signed_in(client, sessions, Role.ADMIN, tenant),
        await signed_in(client, sessions, Role.TECHNICIAN, tenant),
    )


async def test_v1_and_current_apps_converge_in_every_push_order(
    client: Any, sessions: Sessions
) -> None:
    dispatcher, tech = await crew(client, sessions)
    answered_rows = 0  # rows a push answer sent the old app back (conflicts)
    for order in itertools.permutations(range(3)):
        one, two = uuid.uuid4(), uuid.uuid4()
        # The dispatcher (current app) creates two tasks with a window and assigns them.
        await push(
            client,
            dispatcher,
            "desk",
            [
                upsert("task", one, "desk", title="Boiler", priority="normal", **WINDOW),
                upsert("task", two, "desk", title="Pump", **WINDOW),
                action(one, "assign", "desk", fields={"user_id": str(tech.user_id)}),
                action(two, "assign", "desk", fields={"user_id": str(tech.user_id)}),
            ],
            schema=2,
        )
        old, current = Replica(), Replica(schema=2)  # the old app sends no schema at all
        await old.sync(client, tech)
        await current.sync(client, dispatcher)
        no_new_fields(old.rows)
        base = max(old.versions)
        # Offline: the old app writes its whole form, as old apps do; the dispatcher moves
        # the window and edits a title and a guarded field the old app also edits.
        v1_first = [
            upsert(
                "task",
                row,
                "phone",
                base,
                title=f"{name} (tech)",
                description="checked",
                priority="low",
                due_at="2026-12-10T17:00:00Z",
                location={"address": "Site 4", "lat": 24.7, "lng": 46.6},
            )
            for row, name in ((one, "Boiler"), (two, "Pump"))
        ]
        desk = [
            upsert("task", one, "desk", base, priority="urgent", **LATER),
            upsert("task", two, "desk", base, title="Pump (desk)", **LATER),
        ]
        v1_second = [upsert("task", one, "phone", base, title="Boiler (tech, later)")]
        batches = [
            (tech, "phone", v1_first, None),
            (dispatcher, "desk", desk, 2),
            (tech, "phone", v1_second, None),
        ]
        for index in order:
            account, device, changes, schema = batches[index]
            answer = await push(client, account, device, changes, schema=schema)
            assert all(r["status"] != "rejected" for r in answer["results"]), answer
            if schema is None:
                no_new_fields(answer)  # `current` rows of conflicts too
                answered_rows += sum(1 for r in answer["results"] if r.get("current"))
        await old.sync(client, tech)
        await current.sync(client, dispatcher)
        server = Replica(schema=versions.CURRENT)
        await server.sync(client, dispatcher)  # the server's rows, from a fresh snapshot
        server_tasks = {k: v for k, v in task_rows(server).items() if k in (str(one), str(two))}
        current_tasks = {k: v for k, v in task_rows(current).items() if k in server_tasks}
        old_tasks = {k: v for k, v in task_rows(old).items() if k in server_tasks}
        assert current_tasks == server_tasks, order
        assert old_tasks == {
            k: {f: v for f, v in row.items() if f not in NEW} for k, row in server_tasks.items()
        }, order
        no_new_fields(old.rows)
        for row in server_tasks.values():  # every v1 write left the window alone
            assert {f: row[f] for f in NEW} == LATER, order
            assert row["description"] == "checked"
        assert server_tasks[str(one)]["title"] == "Boiler (tech, later)"
        assert server_tasks[str(two)]["title"] == "Pump (desk)"  # stamped after v1's
    assert answered_rows > 0


async def test_an_old_app_cannot_write_a_field_it_does_not_know(
    client: Any, sessions: Sessions
) -> None:
    dispatcher, _ = await crew(client, sessions)
    row = uuid.uuid4()
    await push(
        client, dispatcher, "desk", [upsert("task", row, "desk", title="A", **WINDOW)], schema=2
    )
    answer = await push(client, dispatcher, "old-desk", [upsert("task", row, "old", **LATER)])
    (result,) = answer["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["code"] == "validation_failed"
    assert {e["field"] for e in result["problem"]["errors"]} == {
        "fields.scheduled_start",
        "fields.scheduled_end",
    }
    assert {e["code"] for e in result["problem"]["errors"]} == {"unknown_field"}
    changes, _ = await pull_all(client, dispatcher, schema=2)
    (task,) = [c["data"] for c in changes if c["entity"] == "task"]
    assert {f: task[f] for f in NEW} == WINDOW


async def test_the_window_is_one_value_never_ending_before_it_starts(
    client: Any, sessions: Sessions
) -> None:
    dispatcher, _ = await crew(client, sessions)
    row = uuid.uuid4()
    split = upsert("task", row, "desk", title="A", **WINDOW)
    split["field_hlc"] = {"scheduled_start": split["hlc"]}  # the end under the change's stamp
    split["hlc"] = upsert("task", row, "desk")["hlc"]
    answer = await push(
        client,
        dispatcher,
        "desk",
        [
            upsert("task", row, "desk", title="A", scheduled_start=WINDOW["scheduled_start"]),
            upsert(
                "task",
                row,
                "desk",
                title="A",
                scheduled_start="2026-12-08T09:00:00Z",
                scheduled_end="2026-12-08T08:59:59Z",
            ),
            split,
            upsert("task", row, "desk", title="A", **WINDOW),
            upsert("task", row, "desk", scheduled_start=None, scheduled_end=None),
        ],
        schema=2,
    )
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["rejected", "rejected", "rejected", "applied", "applied"]
    codes = [e["code"] for r in answer["results"][:3] for e in r["problem"]["errors"]]
    assert codes[-1] == "split_stamp"


async def test_live_pages_are_shaped_per_socket(client: Any, sessions: Sessions) -> None:
    dispatcher, tech = await crew(client, sessions)
    row = uuid.uuid4()
    await push(
        client,
        dispatcher,
        "desk",
        [
            upsert("task", row, "desk", title="A", **WINDOW),
            action(row, "assign", "desk", fields={"user_id": str(tech.user_id)}),
        ],
        schema=2,
    )
    sockets = {}
    for name, account, schema in (
        ("old-admin", dispatcher, None),
        ("new-admin", dispatcher, 2),
        ("old-tech", tech, 1),
    ):
        ws = await client.ws_connect(
            "/sync/ws", protocols=("syncd.v1", f"bearer.{account.access_token}")
        )
        hello: dict[str, Any] = {"type": "hello", "client_id": name}
        if schema is not None:
            hello["schema"] = schema
        await ws.send_json(hello)
        sockets[name] = (ws, await until(ws, "caught_up"))
    try:
        for name, (_, frames) in sockets.items():
            tasks = [
                c["data"] for f in frames for c in f.get("changes", []) if c["entity"] == "task"
            ]
            assert tasks, name
            if name == "new-admin":
                assert all({f: t[f] for f in NEW} == WINDOW for t in tasks)
            else:
                no_new_fields(frames)
        # A commit while they follow the tenant's feed: each gets its own shape.
        await push(client, dispatcher, "desk", [upsert("task", row, "desk", **LATER)], schema=2)
        for name, (ws, _) in sockets.items():
            frame = await next_json(ws)
            assert frame["type"] == "changes", frame
            (change,) = frame["changes"]
            if name == "new-admin":
                assert {f: change["data"][f] for f in NEW} == LATER
            else:
                assert change["data"]["title"] == "A"
                no_new_fields(frame)
    finally:
        for ws, _ in sockets.values():
            await ws.close()


async def test_below_the_minimum_an_app_is_refused_and_shown(
    client: Any, sessions: Sessions, database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    dispatcher, tech = await crew(client, sessions)
    row = uuid.uuid4()
    await push(client, dispatcher, "desk", [upsert("task", row, "desk", title="A")], schema=2)
    await push(client, dispatcher, "old-phone", [upsert("task", row, "old-phone", title="B")])
    await push(client, dispatcher, "upgraded", [upsert("task", row, "upgraded", title="C")])
    strict: web.Application = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, SYNC_MIN_SCHEMA="2")
    )
    server = await aiohttp_client(strict)
    refused = await server.post(
        "/sync/push",
        json={
            "client_id": "old-phone",
            "batch_id": "b1",
            "changes": [upsert("task", row, "x", title="C")],
        },
        headers={**dispatcher.headers, "Accept-Language": "ar"},
    )
    assert refused.status == 426
    problem = await refused.json(content_type=None)
    assert problem["code"] == "client_upgrade_required"
    assert problem["minimum_schema"] == 2
    assert problem["schema"] == 1
    assert problem["current_schema"] == versions.CURRENT
    assert problem["title"] == "هذا الإصدار من التطبيق أقدم من أن يُزامِن؛ حدّثه"
    assert "update" not in problem["detail"]  # translated too
    for path in ("/sync/pull", "/sync/pull?schema=1"):
        answer = await server.get(path, headers=tech.headers)
        assert answer.status == 426
        assert (await answer.json(content_type=None))["code"] == "client_upgrade_required"
    assert (await server.get("/sync/pull?schema=2", headers=tech.headers)).status == 200
    for bad in ("3", "0", "two"):
        answer = await server.get(f"/sync/pull?schema={bad}", headers=tech.headers)
        assert answer.status == 422
        assert (await answer.json(content_type=None))["code"] == "unknown_schema"
    pushed = await push(
        server, dispatcher, "new-desk", [upsert("task", row, "new-desk", title="D")], schema=2
    )
    assert pushed["results"][0]["status"] == "applied"
    await push(
        server, dispatcher, "upgraded", [upsert("task", row, "upgraded", title="E")], schema=2
    )
    # /sync/ws: an error frame with the same problem, then 4426; a current hello streams.
    ws = await server.ws_connect("/sync/ws", protocols=("syncd.v1", f"bearer.{tech.access_token}"))
    await ws.send_json({"type": "hello", "client_id": "tech-phone"})
    frame = await next_json(ws)
    assert frame["type"] == "error"
    assert frame["problem"]["code"] == "client_upgrade_required"
    assert frame["problem"]["minimum_schema"] == 2
    assert await closed_with(ws) == 4426
    ws = await server.ws_connect("/sync/ws", protocols=("syncd.v1", f"bearer.{tech.access_token}"))
    await ws.send_json({"type": "hello", "client_id": "tech-phone", "schema": 99})
    assert await closed_with(ws) == 4400
    ws = await server.ws_connect("/sync/ws", protocols=("syncd.v1", f"bearer.{tech.access_token}"))
    await ws.send_json({"type": "hello", "client_id": "tech-new", "schema": 2})
    assert (await until(ws, "caught_up"))[-1]["type"] == "caught_up"
    await ws.close()
    # Device health: each device's schema; the ones below the minimum are flagged.
    health = await (await server.get("/sync/devices", headers=dispatcher.headers)).json()
    assert (health["minimum_schema"], health["current_schema"]) == (2, versions.CURRENT)
    seen = {d["client_id"]: (d["schema"], d["upgrade_required"]) for d in health["items"]}
    assert seen == {
        "desk": (2, False),
        "old-phone": (1, True),
        "upgraded": (2, False),
        "new-desk": (2, False),
    }
    other = await signed_in(server, sessions, Role.ADMIN)
    assert (await (await server.get("/sync/devices", headers=other.headers)).json())["items"] == []


async def test_the_console_shows_each_devices_schema_and_who_must_update(
    client: Any, sessions: Sessions, database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    world = await team(client, sessions)
    await push(client, world.staff, "phone-old", [upsert("task", uuid.uuid4(), "o", title="t")])
    strict = await aiohttp_client(
        create_app(make_settings(tmp_path, DATABASE_URL=database_url, SYNC_MIN_SCHEMA="2"))
    )
    await push(
        strict, world.staff, "phone-new", [upsert("task", uuid.uuid4(), "n", title="t")], schema=2
    )
    console = Console(strict)
    await console.sign_in(world.admin)
    _, text = await console.get("/console/devices")
    rows = {
        name: re.search(rf'<tr data-device="{name}"([^>]*)>(.*?)</tr>', text, re.S)
        for name in ("phone-old", "phone-new")
    }
    old, new = rows["phone-old"], rows["phone-new"]
    assert old
    assert new
    assert 'class="attention"' in old.group(1)
    assert re.search(
        r'<td class="schema">\s*1\s*<br><span class="badge alert">upgrade required<', old.group(2)
    )
    assert "attention" not in new.group(1)
    assert re.search(r'<td class="schema">\s*2\s*</td>', new.group(2))
    assert "Apps older than schema 2 are refused until updated; the newest schema is 2." in text
    assert "1 device needs attention." in text


async def test_a_sockets_pushes_are_written_in_its_hellos_schema(
    client: Any, sessions: Sessions
) -> None:
    dispatcher, _ = await crew(client, sessions)
    row = uuid.uuid4()
    await push(
        client, dispatcher, "desk", [upsert("task", row, "desk", title="A", **WINDOW)], schema=2
    )
    ws = await client.ws_connect(
        "/sync/ws", protocols=("syncd.v1", f"bearer.{dispatcher.access_token}")
    )
    try:
        await ws.send_json({"type": "hello", "client_id": "old-socket"})  # schema 1
        await until(ws, "caught_up")
        frame = {"type": "push", "client_id": "old-socket", "batch_id": "s1"}
        await ws.send_json({**frame, "changes": [upsert("task", row, "old-socket", **LATER)]})
        (answer,) = [f for f in await until(ws, "push_result") if f["type"] == "push_result"]
        (result,) = answer["results"]
        assert result["status"] == "rejected"
        assert {e["code"] for e in result["problem"]["errors"]} == {"unknown_field"}
        renamed = upsert("task", row, "old-socket", title="B")
        await ws.send_json({**frame, "batch_id": "s2", "changes": [renamed]})
        frames = await until(ws, "push_result")
        assert frames[-1]["results"][0]["status"] == "applied"
        no_new_fields(frames)
    finally:
        await ws.close()
    changes, _ = await pull_all(client, dispatcher, schema=2)
    (task,) = [c["data"] for c in changes if c["entity"] == "task"]
    assert task["title"] == "B"
    assert {f: task[f] for f in NEW} == WINDOW
