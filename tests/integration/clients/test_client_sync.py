"""The Python client SDK (syncd_client) against the real app, on both databases.

Devices push, pull and stay live through real sockets; a "kill" closes a
device's client where it stands and opens its file again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncd.app import create_app
from syncd.fair_limits import LIMITS, TooManyPushes
from syncd.settings import Settings
from syncd_client import (
    Acknowledged,
    AuthenticationRequired,
    Credentials,
    LocalStore,
    RetryPolicy,
    SyncClient,
    Tokens,
)
from tests.support.factories import PASSWORD, Account, forged_tokens, signed_in
from tests.support.services import make_settings
from tests.support.sync import pull_all

Sessions = async_sessionmaker[AsyncSession]
Devices = Callable[..., Awaitable[SyncClient]]
WAIT = 10.0
FAST = RetryPolicy(base_s=0.01, cap_s=0.05)


@pytest.fixture
async def devices(tmp_path: Path) -> AsyncIterator[Devices]:
    """A factory of started devices (closed at the end of the test)."""
    opened: list[SyncClient] = []

    async def make(
        client: TestClient[Any, Any],
        account: Account,
        name: str,
        *,
        signed_in: bool = True,
        credentials: bool = True,
        **options: Any,
    ) -> SyncClient:
        store = LocalStore(tmp_path / f"{name}.db", name, keep_history=options.pop("keep", False))
        device = SyncClient(
            str(client.make_url("/")),
            account.tenant.slug,
            store,
            credentials=Credentials(account.email, PASSWORD) if credentials else None,
            **{"retry": FAST, **options},
        )
        opened.append(await device.start())
        if signed_in:
            await device.login(account.email, PASSWORD)
        return device

    yield make
    for device in opened:
        with contextlib.suppress(Exception):
            await device.close()


async def until(device: SyncClient, ready: Callable[[], bool]) -> None:
    """Wait, page by page, until `ready()` holds for a live device."""

    async def wait() -> None:
        while not ready():
            device.page_applied.clear()
            await device.page_applied.wait()

    await asyncio.wait_for(wait(), WAIT)


async def test_an_offline_edit_reaches_another_device_and_comes_back(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    b = await devices(client, admin, "dev-b")
    task_id = a.create("task", {"title": "Replace pump seal", "priority": "high"})
    assert a.get("task", task_id) == {
        "id": str(task_id),
        "title": "Replace pump seal",
        "priority": "high",
    }
    assert await a.push() == 1
    assert a.store.outbox_size() == 0
    assert a.get("task", task_id)["title"] == "Replace pump seal"  # type: ignore[index]
    await b.pull()
    seen = b.get("task", task_id)
    assert seen is not None
    assert (seen["priority"], seen["status"]) == ("high", "open")
    b.update("task", task_id, {"priority": "low"})
    assert await b.sync() == (1, 1)
    await a.pull()
    assert a.rows("task")[str(task_id)]["priority"] == "low"
    assert a.store.unechoed("task") == []
    assert (a.stats["applied"], b.stats["applied"]) == (1, 1)


async def test_a_batch_sent_before_a_kill_is_answered_from_the_servers_record(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices, tmp_path: Path
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    ids = [a.create("task", {"title": f"Job {n}"}) for n in range(3)]
    batch = a.store.next_batch(10)
    assert batch is not None
    first = await client.post("/sync/push", json=batch.body("dev-a"), headers=admin.headers)
    assert first.status == 200
    answer = await first.json()
    await a.close()  # killed after the server answered, before the answer was stored
    again = await devices(client, admin, "dev-a", signed_in=False, keep=True)
    assert again.store.in_flight() == batch.batch_id
    assert await again.push() == 3
    assert [ack.result.version for ack in again.store.history()] == [
        r["version"] for r in answer["results"]
    ]
    changes, _ = await pull_all(client, admin)
    assert sorted(c["id"] for c in changes if c["entity"] == "task") == sorted(map(str, ids))


async def test_conflicting_and_superseded_answers_reach_the_callback(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    heard: list[Acknowledged] = []

    async def on_conflict(ack: Acknowledged) -> None:
        heard.append(ack)

    a = await devices(client, admin, "dev-a")
    b = await devices(client, admin, "dev-b", on_conflict=on_conflict)
    task_id = a.create("task", {"title": "Gate", "priority": "normal"})
    note = a.add_event(task_id, "note", payload={"text": "hinge"})
    await a.sync()
    await b.pull()
    a.update("task", task_id, {"priority": "high"})
    await a.push()
    b.update("task", task_id, {"priority": "low"})  # made without seeing A's edit
    b.add_event(task_id, "note", payload={"text": "again"}, event_id=note)
    await b.push()
    assert [(ack.status.value, ack.change["entity"]) for ack in heard] == [
        ("conflict", "task"),
        ("superseded", "task_event"),
    ]
    assert heard[0].result.conflict_id is not None
    assert heard[0].change["fields"] == {"priority": "low"}
    assert b.store.undelivered() == []


async def test_a_failing_callback_hears_the_answer_again(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    calls: list[str] = []

    def fragile(ack: Acknowledged) -> None:
        calls.append(ack.status.value)
        if len(calls) == 1:
            raise RuntimeError("the app's handler failed")

    a = await devices(client, admin, "dev-a", on_conflict=fragile)
    task_id = a.create("task", {"title": "Gate"})
    event = a.add_event(task_id, "note", payload={})
    await a.push()
    a.add_event(task_id, "note", payload={}, event_id=event)  # a duplicate: superseded
    await a.push()
    assert calls == ["superseded"]
    assert len(a.store.undelivered()) == 1
    assert await a.deliver() == 1
    assert calls == ["superseded", "superseded"]


async def test_an_expired_access_token_is_refreshed(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    tokens = a.store.tokens()
    assert tokens is not None
    expired = forged_tokens(settings, admin)["expired"]
    a.store.save_tokens(Tokens(expired, tokens.refresh_token, time.time() + 600))
    a.create("task", {"title": "t"})
    assert await a.push() == 1
    assert a.stats["refreshes"] == 1
    refreshed = a.store.tokens()
    assert refreshed is not None
    assert refreshed.access_token != expired


async def test_a_token_about_to_expire_is_refreshed_before_use(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    tokens = a.store.tokens()
    assert tokens is not None
    a.store.save_tokens(Tokens(tokens.access_token, tokens.refresh_token, time.time() + 1))
    await a.pull()
    assert a.stats["refreshes"] == 1


async def test_a_refused_refresh_signs_in_again_with_the_credentials(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    expired = forged_tokens(settings, admin)["expired"]
    a.store.save_tokens(Tokens(expired, "not-a-refresh-token", time.time() + 600))
    await a.pull()
    assert (a.stats["relogins"], a.stats["logins"]) == (1, 2)


async def test_without_credentials_an_ended_session_is_reported(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a", signed_in=False, credentials=False)
    with pytest.raises(AuthenticationRequired, match="not_signed_in"):
        await a.pull()
    expired = forged_tokens(settings, admin)["expired"]
    a.store.save_tokens(Tokens(expired, "not-a-refresh-token", time.time() + 600))
    with pytest.raises(AuthenticationRequired, match="refresh_invalid"):
        await a.pull()


async def test_a_live_device_receives_and_pushes_over_the_socket(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    b = await devices(client, admin, "dev-b")
    stop = asyncio.Event()
    live = asyncio.create_task(a.run_live(stop))
    try:
        await asyncio.wait_for(a.live.wait(), WAIT)
        task_id = b.create("task", {"title": "Seen live"})
        await b.push()
        await until(a, lambda: a.store.row("task", task_id) is not None)
        a.update("task", task_id, {"description": "pushed over the socket"})
        await until(a, lambda: a.store.outbox_size() == 0 and not a.store.unechoed("task"))
        await b.pull()
        assert b.get("task", task_id)["description"] == "pushed over the socket"  # type: ignore[index]
    finally:
        stop.set()
        await asyncio.wait_for(live, WAIT)
    assert (a.stats["connects"], a.stats["batches"]) == (1, 1)


async def test_a_push_the_servers_limits_defer_is_sent_again_later(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    """A `push_result` answering 429 (the fair limits) is no refusal of the batch: the
    device reconnects after `retry_after` and the same batch goes through."""
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    limits = client.app[LIMITS]
    limits.max_pushes = 1
    refused = asyncio.Event()
    real = limits.pushing

    @contextlib.asynccontextmanager
    async def noting(tenant_id: Any) -> AsyncIterator[None]:
        try:
            async with real(tenant_id):
                yield
        except TooManyPushes:
            refused.set()
            raise

    limits.pushing = noting  # type: ignore[method-assign]
    stop = asyncio.Event()
    live = asyncio.create_task(a.run_live(stop))
    try:
        await asyncio.wait_for(a.live.wait(), WAIT)
        async with real(admin.tenant.id):  # the tenant's one push slot is taken
            task_id = a.create("task", {"title": "Deferred, not refused"})
            await asyncio.wait_for(refused.wait(), WAIT)
        await until(a, lambda: a.store.outbox_size() == 0 and not a.store.unechoed("task"))
    finally:
        stop.set()
        await asyncio.wait_for(live, WAIT)
    assert a.stats["reconnects"] >= 1
    rows, _ = await pull_all(client, admin)
    assert [r["data"]["title"] for r in rows if r["id"] == str(task_id)] == [
        "Deferred, not refused"
    ]


async def test_a_live_device_refreshes_a_token_the_socket_refused(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    tokens = a.store.tokens()
    assert tokens is not None
    expired = forged_tokens(settings, admin)["expired"]
    a.store.save_tokens(Tokens(expired, tokens.refresh_token, time.time() + 600))
    stop = asyncio.Event()
    live = asyncio.create_task(a.run_live(stop))
    try:
        await asyncio.wait_for(a.live.wait(), WAIT)
    finally:
        stop.set()
        await asyncio.wait_for(live, WAIT)
    assert (a.stats["token_rejected"], a.stats["refreshes"], a.stats["connects"]) == (1, 1, 2)


async def test_another_tenants_device_sees_and_changes_nothing(
    client: TestClient[Any, Any], sessions: Sessions, devices: Devices
) -> None:
    admin = await signed_in(client, sessions)
    stranger = await signed_in(client, sessions)  # an admin of another tenant
    a = await devices(client, admin, "dev-a")
    task_id = a.create("task", {"title": "Ours", "priority": "low"})
    await a.sync()
    refused: list[Acknowledged] = []
    other = await devices(client, stranger, "dev-x", keep=True, on_rejected=refused.append)
    await other.pull()
    assert other.store.rows() == {}
    other.update("task", task_id, {"priority": "urgent"})
    await other.push()
    [ack] = refused  # no such task in that tenant: a new one, and it lacks a title
    assert ack.result.problem is not None
    assert ack.result.problem["code"] == "validation_failed"
    await a.pull()
    assert a.get("task", task_id)["priority"] == "low"  # type: ignore[index]


async def test_a_batch_the_server_finds_too_large_is_split(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions, devices: Devices
) -> None:
    app = create_app(make_settings(tmp_path, DATABASE_URL=database_url, MAX_BATCH_CHANGES="2"))
    client = await aiohttp_client(app)
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    for n in range(5):
        a.create("task", {"title": f"Job {n}"})
    assert await a.push() == 5
    assert a.batch_size == 2
    assert a.stats["applied"] == 5


@pytest.mark.parametrize(
    ("mine", "theirs", "outcome"),
    [
        ("2026-06-02T09:00:00Z", "2026-06-03T09:00:00Z", "conflict"),
        ("2026-06-02T09:00:00Z", "2026-06-02T09:00:00Z", "applied"),  # same value: no conflict
    ],
)
async def test_concurrent_edits_of_a_due_date(
    client: TestClient[Any, Any],
    sessions: Sessions,
    devices: Devices,
    mine: str,
    theirs: str,
    outcome: str,
) -> None:
    admin = await signed_in(client, sessions)
    a = await devices(client, admin, "dev-a")
    b = await devices(client, admin, "dev-b", keep=True, retry=RetryPolicy(max_attempts=1))
    task_id = a.create("task", {"title": "Boiler", "due_at": "2026-06-01T09:00:00Z"})
    await a.sync()
    await b.pull()
    a.update("task", task_id, {"due_at": theirs})
    await a.push()
    b.update("task", task_id, {"due_at": mine})  # made without seeing A's edit
    await b.push()
    assert [ack.status.value for ack in b.store.history()] == [outcome]
