"""Gapless, ordered pull under concurrent writers (PROTOCOL.md guarantee 3).

Many pushers write to one tenant at once while a reader pulls in a loop. If a
version could become visible before a smaller one, the reader would move its
cursor past the smaller one and never see it: the final sequence it collected
would have a hole. PostgreSQL only: that is where writers truly run in
parallel (SQLite serialises every write transaction).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from protocol.roles import Role
from syncd.app import create_app
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import hlc, push

PUSHERS = 8
BATCHES = 6
CHANGES = 5


async def test_reader_never_sees_a_gap_that_later_fills(
    pg_database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    app: web.Application = create_app(
        make_settings(tmp_path, DATABASE_URL=pg_database_url, DB_POOL_SIZE="20")
    )
    client = await aiohttp_client(app)
    from storage.database import create_engine, session_factory

    engine = create_engine(pg_database_url)
    sessions = session_factory(engine)
    try:
        tenant = await make_tenant(sessions)
        reader = await signed_in(client, sessions, Role.ADMIN, tenant)
        pushers = [await signed_in(client, sessions, Role.STAFF, tenant) for _ in range(PUSHERS)]
    finally:
        await engine.dispose()
    done = asyncio.Event()
    seen: list[int] = []

    async def pusher(index: int) -> None:
        account = pushers[index]
        for batch in range(BATCHES):
            changes = [
                {
                    "entity": "task",
                    "id": str(uuid.uuid4()),
                    "op": "upsert",
                    "fields": {"title": f"{index}-{batch}-{n}"},
                    "hlc": hlc(f"p{index}"),
                    "base_version": 0,
                }
                for n in range(CHANGES)
            ]
            await push(client, account, f"p{index}", changes)

    # The reader follows the log from the empty tenant's cursor: a first pull from 0
    # made after some push has committed answers a snapshot (rows in id order), not
    # the log, and whether it does depends on which request the loop runs first.
    first = await client.get("/sync/pull", headers=reader.headers)
    start = await first.json()
    assert start["changes"] == []

    async def read_loop() -> None:
        cursor = start["cursor"]
        while True:
            finished = done.is_set()
            params = {"limit": "7", "since": cursor}
            response = await client.get("/sync/pull", params=params, headers=reader.headers)
            page = await response.json()
            seen.extend(change["version"] for change in page["changes"])
            cursor = page["cursor"]
            if finished and not page["has_more"]:
                return
            if not page["changes"]:
                await asyncio.sleep(0)

    reading = asyncio.create_task(read_loop())
    await asyncio.gather(*(pusher(i) for i in range(PUSHERS)))
    done.set()
    await asyncio.wait_for(reading, timeout=60)
    total = PUSHERS * BATCHES * CHANGES * 2  # each new task and its "created" event
    assert seen == list(range(1, total + 1))
