"""Guarantee 5 as a property: a technician's replica always equals a fresh snapshot.

Hypothesis drives random sequences of what a tenant does around one
technician's tasks: creations, edits by the dashboard and by the technician,
timeline notes, purchases, assignments of them and of a colleague,
unassignments, deletions, lifecycle actions, conflicts and their resolutions.
At random points, and at the end, the technician's phone follows the stream
(by pull with a small page, or by a /sync/ws catch-up from its cursor) and
must then hold exactly the rows a fresh pull from zero gives: nothing missing,
nothing stale, nothing left behind after a scope change. On SQLite and
PostgreSQL, with a fixed seed in CI (SYNCD_PROPERTY_EXAMPLES runs it longer).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from protocol.roles import Role
from storage.database import create_engine, session_factory
from syncd.app import create_app
from syncd.settings import Settings
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import Replica, action, hlc, push, upsert
from tests.support.ws import connect, until

TASKS = 2
PURCHASES = 2
EXAMPLES = int(os.environ.get("SYNCD_PROPERTY_EXAMPLES", "20"))
WHEN = "2026-11-24T09:20:00Z"

task_index = st.integers(0, TASKS - 1)
someone = st.sampled_from(("tech", "colleague"))
operation = st.one_of(
    st.tuples(st.just("create"), task_index),
    st.tuples(st.just("edit"), task_index),
    st.tuples(st.just("tech_edit"), task_index),
    st.tuples(st.just("note"), task_index),
    st.tuples(st.just("purchase"), task_index, st.integers(0, PURCHASES - 1)),
    st.tuples(st.just("delete_purchase"), st.integers(0, PURCHASES - 1)),
    st.tuples(st.just("assign"), task_index, someone),
    st.tuples(st.just("unassign"), task_index, someone),
    st.tuples(st.just("delete_task"), task_index),
    st.tuples(st.just("work"), task_index, st.sampled_from(("start", "complete", "pause"))),
    st.tuples(st.just("reopen"), task_index),
    st.tuples(st.just("conflict"), task_index, st.sampled_from(("keep_server", "take_client"))),
    st.tuples(st.just("follow"), st.sampled_from(("pull", "socket"))),
)


@dataclass
class World:
    client: Any
    admin: Account
    tech: Account
    colleague: Account
    tasks: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(TASKS)])
    purchases: list[uuid.UUID] = field(
        default_factory=lambda: [uuid.uuid4() for _ in range(PURCHASES)]
    )
    version: int = 0  # the tenant version the dashboard last saw
    phone: Replica = field(default_factory=Replica)
    serial: int = 0

    async def send(self, who: Account, node: str, *changes: dict[str, Any]) -> list[dict[str, Any]]:
        answer = await push(self.client, who, node, list(changes))
        for result in answer["results"]:
            assert result["status"] != "rejected" or result["problem"]["status"] < 500, result
            self.version = max(self.version, result.get("version") or 0)
        results: list[dict[str, Any]] = answer["results"]
        return results

    def label(self) -> str:
        self.serial += 1
        return f"v{self.serial}"


async def apply(world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    admin, tech = world.admin, world.tech
    if kind == "create":
        await world.send(admin, "dash", upsert("task", world.tasks[step[1]], "dash", title="new"))
    elif kind == "edit":
        await world.send(
            admin,
            "dash",
            upsert("task", world.tasks[step[1]], "dash", base=world.version, title=world.label()),
        )
    elif kind == "tech_edit":
        await world.send(
            tech,
            "phone",
            upsert("task", world.tasks[step[1]], "phone", base=world.version, title=world.label()),
        )
    elif kind == "note":
        await world.send(
            tech,
            "phone",
            upsert(
                "task_event",
                uuid.uuid4(),
                "phone",
                task_id=str(world.tasks[step[1]]),
                kind="note",
                payload={"text": world.label()},
            ),
        )
    elif kind == "purchase":
        fields = {
            "task_id": str(world.tasks[step[1]]),
            "vendor": world.label(),
            "amount_minor": 100,
            "currency": "SAR",
            "purchased_at": WHEN,
        }
        await world.send(
            admin, "dash", upsert("purchase", world.purchases[step[2]], "dash", **fields)
        )
    elif kind in ("delete_purchase", "delete_task"):
        entity, ids = (
            ("purchase", world.purchases) if kind == "delete_purchase" else ("task", world.tasks)
        )
        await world.send(
            admin,
            "dash",
            {
                "entity": entity,
                "id": str(ids[step[1]]),
                "op": "delete",
                "hlc": hlc("dash"),
                "base_version": world.version,
            },
        )
    elif kind in ("assign", "unassign"):
        user = world.tech if step[2] == "tech" else world.colleague
        await world.send(
            admin,
            "dash",
            action(world.tasks[step[1]], kind, "dash", fields={"user_id": str(user.user_id)}),
        )
    elif kind == "work":
        await world.send(tech, "phone", action(world.tasks[step[1]], step[2], "phone"))
    elif kind == "reopen":
        await world.send(admin, "dash", action(world.tasks[step[1]], "reopen", "dash"))
    elif kind == "conflict":
        await make_and_resolve_conflict(world, world.tasks[step[1]], step[2])
    elif kind == "follow":
        await follow(world, step[1])
        expected = await snapshot(world)
        assert world.phone.rows == expected, _difference(world.phone.rows, expected)


async def make_and_resolve_conflict(world: World, task: uuid.UUID, choice: str) -> None:
    base = world.version
    await world.send(
        world.admin, "dash", upsert("task", task, "dash", base=base, priority="urgent")
    )
    (result,) = await world.send(
        world.tech, "phone", upsert("task", task, "phone", base=base, priority="low")
    )
    if result["status"] != "conflict":
        return
    response = await world.client.post(
        f"/conflicts/{result['conflict_id']}/resolve",
        json={"resolution": choice},
        headers=world.admin.headers,
    )
    assert response.status == 200, await response.text()
    version = (await response.json())["version"]
    world.version = max(world.version, version or 0)


async def follow(world: World, how: str) -> None:
    """The phone catches up from its cursor, by pull pages or over the live socket."""
    if how == "pull":
        await world.phone.sync(world.client, world.tech, limit=2)
        return
    ws = await connect(world.client, world.tech, world.phone.cursor)
    try:
        for frame in await until(ws, "caught_up"):
            if frame["type"] == "changes":
                world.phone.apply(frame["changes"])
            world.phone.cursor = frame["cursor"]
    finally:
        await ws.close()


async def snapshot(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    fresh = Replica()
    await fresh.sync(world.client, world.tech, limit=1000)
    return fresh.rows


async def scenario(app_settings: Settings, steps: list[tuple[Any, ...]]) -> None:
    async with TestClient(TestServer(create_app(app_settings))) as client:
        engine = create_engine(app_settings.database_url)
        try:
            sessions = session_factory(engine)
            tenant = await make_tenant(sessions)
            world = World(
                client,
                await signed_in(client, sessions, Role.ADMIN, tenant),
                await signed_in(client, sessions, Role.TECHNICIAN, tenant),
                await signed_in(client, sessions, Role.TECHNICIAN, tenant),
            )
            # A tenant in full swing: every task made, a purchase on each, the first
            # task assigned to the technician, whose phone has caught up.
            for index in range(TASKS):
                await apply(world, ("create", index))
                await apply(world, ("purchase", index, index % PURCHASES))
            await apply(world, ("assign", 0, "tech"))
            await apply(world, ("follow", "pull"))
            for number, step in enumerate(steps):
                try:
                    await apply(world, step)
                except AssertionError as failure:
                    raise AssertionError(f"step {number} of {steps}: {failure}") from None
            await follow(world, "pull")
            expected = await snapshot(world)
            assert world.phone.rows == expected, (steps, _difference(world.phone.rows, expected))
        finally:
            await engine.dispose()


@seed(20261206)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operation, min_size=2, max_size=16))
def test_a_technicians_replica_equals_a_fresh_snapshot_of_their_scope(
    settings: Settings, steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(scenario(settings, steps))


def _difference(held: dict[Any, Any], expected: dict[Any, Any]) -> str:
    """What the phone holds that a snapshot does not, and what it misses."""
    extra = sorted(str(key) for key in held.keys() - expected.keys())
    missing = sorted(str(key) for key in expected.keys() - held.keys())
    stale = sorted(str(key) for key in held.keys() & expected.keys() if held[key] != expected[key])
    return f"extra {extra}, missing {missing}, stale {stale}"
