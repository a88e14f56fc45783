"""The inbox's event stream: an event when a conflict opens or closes, the end of
the stream when the session does, and at most MAX_STREAMS_PER_USER per person."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncd.console.live import MAX_STREAMS_PER_USER, STREAMS
from tests.support.console import Console
from tests.support.console_world import team, two_phone_conflict
from tests.support.sync import push, upsert

Sessions = async_sessionmaker[AsyncSession]
DEADLINE_S = 10.0


class Events:
    """An open /console/inbox/events stream, read event by event."""

    def __init__(self, response: Any) -> None:
        self.response = response

    async def next(self) -> tuple[str, dict[str, Any]] | None:
        """The next event (comments skipped), or None at the end of the stream."""
        name, data = "", ""
        while True:
            line = await asyncio.wait_for(self.response.content.readline(), DEADLINE_S)
            if not line:
                return None
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                name = text[len("event: ") :]
            elif text.startswith("data: "):
                data = text[len("data: ") :]
            elif text == "" and name:
                return name, json.loads(data)

    async def until(self, name: str, **fields: Any) -> dict[str, Any]:
        while True:
            found = await self.next()
            assert found is not None, f"the stream ended before {name} {fields}"
            if found[0] == name and all(found[1].get(k) == v for k, v in fields.items()):
                return found[1]


async def listen(console: Console) -> Events:
    response = await console.client.get(
        "/console/inbox/events",
        headers=console._headers({"Accept": "text/event-stream"}),
        allow_redirects=False,
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    return Events(response)


async def test_events_follow_conflicts_and_end_with_the_session(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    console = Console(client)
    await console.sign_in(world.admin)
    events = await listen(console)
    assert await events.until("conflicts", open=0) == {"open": 0, "mark": None}
    made = await two_phone_conflict(client, world)
    opened = await events.until("conflicts", open=1)
    assert opened["mark"] is not None
    await console.get(f"/console/conflicts/{made.conflict_id}")
    await console.post(
        f"/console/conflicts/{made.conflict_id}/resolve", {"resolution": "keep_server"}
    )
    await events.until("conflicts", open=0)
    await console.post("/console/logout", {})
    # Any change of the tenant wakes the stream, which finds the session ended.
    await push(client, world.staff, "desk", [upsert("task", uuid.uuid4(), "desk", title="t")])
    await events.until("signed-out")
    assert await events.next() is None


async def test_a_person_keeps_at_most_a_few_streams(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    console = Console(client)
    await console.sign_in(world.admin)
    streams = [await listen(console) for _ in range(MAX_STREAMS_PER_USER)]
    for stream in streams:
        await stream.until("conflicts")
    assert app[STREAMS].count == MAX_STREAMS_PER_USER
    newest = await listen(console)
    await newest.until("conflicts")
    assert await streams[0].next() is None  # the oldest was ended
    assert app[STREAMS].count == MAX_STREAMS_PER_USER
    for stream in (*streams[1:], newest):
        stream.response.close()
