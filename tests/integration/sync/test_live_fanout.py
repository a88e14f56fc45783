"""Many live sockets on the tenant's shared feed (GET /sync/ws): dashboards share one
log read and each gets every change once; technicians each see only their tasks.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd import appkeys
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import action, push, upsert
from tests.support.ws import connect, next_json, until

Sessions = async_sessionmaker[AsyncSession]


async def test_many_dashboards_share_one_log_read_and_each_gets_every_change_once(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    # Twelve dashboards of three people (four each: under the per-user socket cap).
    people = [staff, *[await signed_in(client, sessions, Role.STAFF, tenant) for _ in range(2)]]
    sockets = [await connect(client, people[n % 3], client_id=f"dash-{n}") for n in range(12)]
    for ws in sockets:
        await until(ws, "caught_up")
    reads = count_log_reads(app)
    pushed = []
    for n in range(3):
        task_id = uuid.uuid4()
        pushed.append(str(task_id))
        await push(client, staff, "writer", [upsert("task", task_id, "writer", title=f"t{n}")])
    for ws in sockets:
        seen: list[dict[str, Any]] = []
        while len([c for c in seen if c["entity"] == "task"]) < 3:
            message = await next_json(ws)
            seen += message.get("changes", [])
        versions = [c["version"] for c in seen]
        assert versions == sorted(set(versions))  # in order, nothing twice
        assert [c["id"] for c in seen if c["entity"] == "task"] == pushed
        await ws.close()
    # Woken together, the sockets joined reads instead of each reading the log.
    # At most two feed reads per commit (a hint that arrives during a read wakes one
    # more), whatever the number of sockets.
    assert reads["own"] == 0
    assert 1 <= reads["feed"] <= 2 * len(pushed)


def count_log_reads(app: web.Application) -> dict[str, int]:
    """Count the sync service's reads of the log: a socket's own, and the feed's."""
    service = app[appkeys.SYNC]
    reads = {"own": 0, "feed": 0}
    own, feed = service.pull_in_scope, service.feed_page

    async def own_read(*args: Any, **kwargs: Any) -> Any:
        reads["own"] += 1
        return await own(*args, **kwargs)

    async def feed_read(*args: Any, **kwargs: Any) -> Any:
        reads["feed"] += 1
        return await feed(*args, **kwargs)

    service.pull_in_scope = own_read  # type: ignore[method-assign]
    service.feed_page = feed_read  # type: ignore[method-assign]
    return reads


async def test_technicians_follow_the_shared_feed_each_seeing_only_their_tasks(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    techs = [await signed_in(client, sessions, Role.TECHNICIAN, tenant) for _ in range(4)]
    tasks = [uuid.uuid4() for _ in techs]
    for tech, task_id in zip(techs, tasks, strict=True):
        assign = action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})
        await push(client, admin, "dash", [upsert("task", task_id, "dash", title="t"), assign])
    sockets = [await connect(client, tech, client_id=f"phone-{n}") for n, tech in enumerate(techs)]
    for ws in sockets:
        await until(ws, "caught_up")
    reads = count_log_reads(app)
    for round_ in range(3):
        for task_id in tasks:
            await push(client, admin, "dash", [upsert("task", task_id, "dash", title=f"r{round_}")])
    for ws, task_id in zip(sockets, tasks, strict=True):
        seen: list[dict[str, Any]] = []
        while len(seen) < 3:
            message = await next_json(ws)
            seen += message.get("changes", [])
        assert {c["id"] for c in seen} == {str(task_id)}  # nothing of the others' tasks
        assert [c["data"]["title"] for c in seen] == ["r0", "r1", "r2"]
    assert reads["own"] == 0  # every page came from the feed
    # An unassignment lets the technician go: their own read sends the removes.
    unassign = action(tasks[0], "unassign", "dash", fields={"user_id": str(techs[0].user_id)})
    await push(client, admin, "dash", [unassign])
    removed: list[dict[str, Any]] = []
    while not any(c["entity"] == "task" for c in removed):
        removed += [
            c for c in (await next_json(sockets[0])).get("changes", []) if c["op"] == "remove"
        ]
    assert reads["own"] >= 1
    for ws in sockets:
        await ws.close()
