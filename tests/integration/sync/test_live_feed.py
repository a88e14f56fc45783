"""The tenant feed (syncd/sync/live_feed.py) over the real sync service and database.

The followers here are small recording implementations of the feed's
`Follower` protocol, so each rule can be driven exactly: a page goes only to a
follower standing at its start, a full queue or a cursor behind the page
releases the follower, a follower already past the page is left alone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd import appkeys
from syncd.auth.principal import Principal
from syncd.sync.cursor import Cursor
from syncd.sync.live_feed import TenantFeed
from syncd.sync.scope import Scope
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.sync import action, push, upsert

Sessions = async_sessionmaker[AsyncSession]
WAIT = 10.0


class Recorder:
    """A follower that keeps what it is offered (up to `room` frames)."""

    def __init__(self, who: Principal, version: int, room: int = 1000) -> None:
        self.who: Principal | None = who
        self.scope: Scope | None = None  # the whole tenant
        self.cursor = Cursor.at(version).encode()
        self.room = room
        self.frames: list[dict[str, Any]] = []
        self.released = asyncio.Event()
        self.schema = 2

    @property
    def version(self) -> int:
        cursor = Cursor.decode(self.cursor)
        return 0 if cursor is None else cursor.version

    def offer(self, frame: str | None, cursor: str) -> bool:
        if frame is not None:
            if len(self.frames) >= self.room:
                return False
            self.frames.append(json.loads(frame))
        self.cursor = cursor
        return True

    def release(self) -> None:
        self.released.set()

    def task_ids(self) -> list[str]:
        return [c["id"] for f in self.frames for c in f["changes"] if c["entity"] == "task"]

    def versions(self) -> list[int]:
        return [c["version"] for f in self.frames for c in f["changes"]]


def principal_of(account: Account) -> Principal:
    return Principal(
        user_id=account.user_id,
        tenant_id=account.tenant.id,
        role=account.role,
        session_id=uuid.uuid4(),
        email=account.email,
    )


async def head(app: web.Application, who: Principal) -> int:
    """The tenant's newest version, read through pull like a device would."""
    cursor: str | None = None
    while True:
        page = await app[appkeys.SYNC].pull(who, cursor, 500)
        cursor = page["cursor"]
        if not page["has_more"]:
            decoded = Cursor.decode(cursor)
            assert decoded is not None
            return decoded.version


async def eventually(condition: Any) -> None:
    for _ in range(int(WAIT / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def feed_of(app: web.Application, tenant_id: uuid.UUID) -> TenantFeed:
    return TenantFeed(app[appkeys.SYNC], tenant_id, app[appkeys.HUB].subscribe, lambda page: None)


async def test_followers_at_the_feed_cursor_get_each_change_once_in_order(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    who = principal_of(staff)
    start = await head(app, who)
    feed = feed_of(app, staff.tenant.id)
    fast = [Recorder(who, start) for _ in range(3)]
    for follower in fast:
        feed.follow(follower)
    pushed = []
    for n in range(4):
        task_id = uuid.uuid4()
        pushed.append(str(task_id))
        await push(client, staff, "writer", [upsert("task", task_id, "writer", title=f"t{n}")])
    await eventually(lambda: all(len(f.task_ids()) == 4 for f in fast))
    for follower in fast:
        assert follower.task_ids() == pushed
        assert follower.versions() == sorted(set(follower.versions()))
        assert not follower.released.is_set()
    assert feed.reads <= 1 + len(pushed)  # one read per commit, not one per follower
    await feed.stop()
    assert all(f.released.is_set() for f in fast)  # stopping hands them back


async def test_a_full_queue_or_a_cursor_behind_releases_and_one_ahead_waits(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    who = principal_of(staff)
    await push(client, staff, "writer", [upsert("task", uuid.uuid4(), "writer", title="old")])
    start = await head(app, who)
    feed = feed_of(app, staff.tenant.id)
    steady = Recorder(who, start)
    full = Recorder(who, start, room=1)
    feed.follow(steady)
    feed.follow(full)
    first = uuid.uuid4()
    await push(client, staff, "writer", [upsert("task", first, "writer", title="one")])
    await eventually(lambda: len(steady.task_ids()) == 1)
    after_first = steady.version
    # Behind: a follower still at `start` when the feed has moved on is released.
    behind = Recorder(who, start)
    # Ahead: one that read further than the feed's next page is skipped, not released.
    ahead = Recorder(who, after_first + 10_000)
    feed.follow(behind)
    feed.follow(ahead)
    await push(client, staff, "writer", [upsert("task", uuid.uuid4(), "writer", title="two")])
    await eventually(lambda: len(steady.task_ids()) == 2)
    await eventually(lambda: full.released.is_set() and behind.released.is_set())
    assert full.task_ids() == [str(first)]  # what it got before its queue filled
    assert behind.frames == []
    assert ahead.frames == []
    assert not ahead.released.is_set()
    assert len(feed) == 2  # steady and ahead
    await feed.stop()


async def test_another_tenants_feed_hears_and_sends_nothing(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    ours = await signed_in(client, sessions, Role.STAFF)
    theirs = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    who = principal_of(theirs)
    feed = feed_of(app, theirs.tenant.id)
    watcher = Recorder(who, await head(app, who))
    feed.follow(watcher)
    await push(client, ours, "writer", [upsert("task", uuid.uuid4(), "writer", title="ours")])
    await asyncio.sleep(0.3)
    assert watcher.frames == []
    await feed.stop()


async def test_a_failing_read_hands_the_followers_back(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    who = principal_of(staff)

    class Broken:
        async def pull(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise ConnectionError("database gone")

    feed = TenantFeed(
        Broken(),  # type: ignore[arg-type]
        staff.tenant.id,
        app[appkeys.HUB].subscribe,
        lambda page: None,
    )
    follower = Recorder(who, 0)
    feed.follow(follower)
    await asyncio.wait_for(follower.released.wait(), WAIT)
    assert len(feed) == 0


async def test_one_page_gives_each_technician_their_tasks_changes_in_order(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    """A page touching several tasks: each technician gets the changes of their
    tasks only, in version order, in one frame; one the page assigns is let go
    (their own read sends the task's rows); the others' cursors move on."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    techs = [
        principal_of(await signed_in(client, sessions, Role.TECHNICIAN, admin.tenant))
        for _ in range(3)
    ]
    tasks = [uuid.uuid4() for _ in range(4)]
    await push(client, admin, "dash", [upsert("task", t, "dash", title="new") for t in tasks])
    start = await head(app, principal_of(admin))
    feed = feed_of(app, admin.tenant.id)
    followers = [Recorder(who, start) for who in techs]
    followers[0].scope = Scope(techs[0].user_id, {tasks[0], tasks[1]})
    followers[1].scope = Scope(techs[1].user_id, {tasks[2]})
    followers[2].scope = Scope(techs[2].user_id, set())
    dashboard = Recorder(principal_of(admin), start)
    for follower in [*followers, dashboard]:
        feed.follow(follower)
    edits = [upsert("task", tasks[n], "dash", title=f"edit {n}") for n in (1, 2, 0, 3)]
    assign = action(tasks[3], "assign", "dash", fields={"user_id": str(techs[2].user_id)})
    await push(client, admin, "dash", [*edits, assign])
    await eventually(lambda: followers[2].released.is_set() and dashboard.frames)
    assert dashboard.task_ids()[:4] == [str(tasks[n]) for n in (1, 2, 0, 3)]  # and the assign's
    assert followers[0].task_ids() == [str(tasks[1]), str(tasks[0])]
    assert followers[1].task_ids() == [str(tasks[2])]
    assert len(followers[0].frames) == len(followers[1].frames) == 1
    assert followers[2].frames == []  # let go: the assignment is for their own read
    end = dashboard.version
    assert followers[0].version == followers[1].version == end
    assert followers[0].versions() == sorted(followers[0].versions())
    await feed.stop()
