"""Fair limits per tenant: one tenant's flood never starves another.

A tenant with a small budget floods REST, pulls and pushes at once while
another tenant's requests, interleaved with the flood, all succeed within
their own budget; the flood's extra requests answer 429
`tenant_rate_limited` with Retry-After (in Arabic too). The budget lives in
memory, or in Redis when configured (keys under the test's own prefix,
expiring). A tenant's pushes past its cap answer 429 `too_many_pushes`; its
live sockets past its cap are closed with 4429; the other tenant is not
touched. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.fair_limits import LIMITS
from syncd.sockets.caps import SOCKET_CAPS
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import upsert
from tests.support.ws import closed_with, connect, until
from tests.support.yjs import closed_with as yjs_closed_with
from tests.support.yjs import new_task, open_editor

Sessions = async_sessionmaker[AsyncSession]
BURST = 6


@pytest.fixture(params=["memory", "redis"])
def budget_store(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    url = request.getfixturevalue("redis_url")
    return {"REDIS_URL": url, "REDIS_PREFIX": f"t{uuid.uuid4().hex[:12]}:"}


async def limited_client(
    aiohttp_client: Any, database_url: str, tmp_path: Path, **overrides: str
) -> Any:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, **overrides)
    return await aiohttp_client(create_app(settings))


def request_of(n: int, who: Account) -> tuple[str, str, dict[str, Any] | None]:
    """The n-th request of a mix: a REST list, a pull, a push."""
    if n % 3 == 0:
        return "GET", "/tasks", None
    if n % 3 == 1:
        return "GET", "/sync/pull", None
    change = upsert("task", uuid.uuid4(), "dash", title=f"Flood {n}")
    body = {"client_id": "dash", "batch_id": uuid.uuid4().hex, "changes": [change]}
    return "POST", "/sync/push", body


async def send(client: Any, who: Account, n: int, **headers: str) -> Any:
    method, path, body = request_of(n, who)
    return await client.request(method, path, json=body, headers={**who.headers, **headers})


async def test_one_tenants_flood_never_starves_another(
    aiohttp_client: Any,
    database_url: str,
    tmp_path: Path,
    sessions: Sessions,
    budget_store: dict[str, str],
) -> None:
    client = await limited_client(
        aiohttp_client,
        database_url,
        tmp_path,
        TENANT_REQUESTS_PER_SECOND="0.001",  # a token back every 1000 s: no refill in a test
        TENANT_BURST=str(BURST),
        **budget_store,
    )
    flooder = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    neighbour = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))

    flood = [send(client, flooder, n) for n in range(5 * BURST)]
    calm = [send(client, neighbour, n) for n in range(BURST)]
    mixed: list[Any] = []
    for n, request in enumerate(flood):  # the neighbour's requests among the flood's
        mixed.append(request)
        if n % 5 == 0 and calm:
            mixed.append(calm.pop(0))
    answers = []
    for start in range(0, len(mixed), 8):  # a flood, eight at a time (two cores here)
        answers += await asyncio.gather(*mixed[start : start + 8])
    mine = [
        a
        for a in answers
        if a.request_info.headers["Authorization"].endswith(neighbour.access_token)
    ]
    theirs = [a for a in answers if a not in mine]

    assert [a.status for a in mine] == [200] * BURST
    assert sorted(a.status for a in theirs).count(200) == BURST
    refused = [a for a in theirs if a.status == 429]
    assert len(refused) == 4 * BURST
    for answer in refused:
        problem = await answer.json(content_type=None)
        assert answer.content_type == "application/problem+json"
        assert problem["code"] == "tenant_rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
        assert problem["retry_after"] == int(answer.headers["Retry-After"])

    # Spent: the flooder is still refused, in Arabic when asked; the neighbour's budget is its own.
    arabic = await send(client, flooder, 0, **{"Accept-Language": "ar"})
    assert arabic.status == 429
    body = await arabic.json(content_type=None)
    assert body["title"] == "استنفدت المؤسسة حصتها من الطلبات"
    assert "أعد المحاولة" in body["detail"]
    # Public routes (health, login) are not counted against a tenant.
    assert (await client.get("/health/live")).status == 200


async def test_pushes_past_a_tenants_cap_wait_their_turn(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    client = await limited_client(
        aiohttp_client, database_url, tmp_path, TENANT_MAX_CONCURRENT_PUSHES="1"
    )
    busy = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    other = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    limits = client.app[LIMITS]
    async with limits.pushing(busy.tenant.id):  # a push of the busy tenant is running
        refused = await send(client, busy, 2)
        assert refused.status == 429
        assert (await refused.json(content_type=None))["code"] == "too_many_pushes"
        assert refused.headers["Retry-After"] == "1"
        assert (await send(client, busy, 0)).status == 200  # reading is not pushing
        assert (await send(client, other, 2)).status == 200
    assert (await send(client, busy, 2)).status == 200  # its turn came


async def test_live_sockets_past_a_tenants_cap_are_closed(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    client = await limited_client(
        aiohttp_client, database_url, tmp_path, TENANT_MAX_LIVE_SOCKETS="1"
    )
    tenant = await make_tenant(sessions)
    first = await signed_in(client, sessions, Role.ADMIN, tenant)
    second = await signed_in(client, sessions, Role.ADMIN, tenant)
    other = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    held = await connect(client, first, client_id="a")
    await until(held, "caught_up")
    refused = await connect(client, second, client_id="b")
    assert await closed_with(refused) == 4429
    theirs = await connect(client, other, client_id="c")
    await until(theirs, "caught_up")
    await held.close()
    await theirs.close()


async def test_a_flood_of_sockets_of_both_kinds_stops_at_the_tenants_cap(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    """/sync/ws and /sync/yjs sockets count together under TENANT_MAX_LIVE_SOCKETS:
    a tenant flooding both is refused with 4429 past it; another tenant's sockets
    of both kinds keep opening and working."""
    client = await limited_client(
        aiohttp_client, database_url, tmp_path, TENANT_MAX_LIVE_SOCKETS="3"
    )
    flooder = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    neighbour = await signed_in(client, sessions, Role.STAFF, await make_tenant(sessions))
    theirs = f"task:{await new_task(client, flooder)}:notes"
    ours = f"task:{await new_task(client, neighbour)}:notes"
    held = [await connect(client, flooder, client_id=f"f{n}") for n in range(2)]
    for ws in held:
        await until(ws, "caught_up")
    editor = await open_editor(client, flooder, theirs)  # the third: within the cap
    caps = client.app[SOCKET_CAPS]
    assert caps.held(flooder.tenant.id) == 3
    refused_editor = await open_editor(client, flooder, theirs, sync=False)
    assert await yjs_closed_with(refused_editor.ws) == 4429
    refused_live = await connect(client, flooder, client_id="f9")
    assert await closed_with(refused_live) == 4429
    # The neighbour's sockets of both kinds open and work meanwhile.
    live = await connect(client, neighbour, client_id="n1")
    await until(live, "caught_up")
    mine = await open_editor(client, neighbour, ours)
    await mine.insert(0, "still editing")
    await mine.until(lambda: str(mine.text) == "still editing")
    assert caps.held(neighbour.tenant.id) == 2
    for ws in (*held, editor.ws, live, mine.ws):
        await ws.close()


async def test_the_process_caps_hold_across_tenants(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    """PROCESS_MAX_CONCURRENT_PUSHES and PROCESS_MAX_LIVE_SOCKETS bound the process
    whoever asks: 429 `server_busy` (Arabic when asked), and a 4429 close."""
    client = await limited_client(
        aiohttp_client,
        database_url,
        tmp_path,
        PROCESS_MAX_CONCURRENT_PUSHES="1",
        PROCESS_MAX_LIVE_SOCKETS="1",
    )
    first = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    second = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    limits = client.app[LIMITS]
    async with limits.pushing(first.tenant.id):  # the one push this process runs
        busy = await send(client, second, 2, **{"Accept-Language": "ar"})
        assert busy.status == 429
        assert busy.headers["Retry-After"] == "1"
        problem = await busy.json(content_type=None)
        assert problem["code"] == "server_busy"
        assert problem["title"] == "يشغّل الخادم أقصى عدد مسموح به من عمليات الدفع"
        assert (await send(client, second, 0)).status == 200  # reading is not pushing
    assert (await send(client, second, 2)).status == 200
    held = await connect(client, first, client_id="a")
    await until(held, "caught_up")
    refused = await connect(client, second, client_id="b")
    assert await closed_with(refused) == 4429
    await held.close()


async def test_push_frames_on_the_socket_take_a_push_slot(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    """A `push` frame is a push like HTTP's: past the tenant's cap its `push_result`
    holds the 429 problem, in the socket's language; the socket stays open."""
    client = await limited_client(
        aiohttp_client, database_url, tmp_path, TENANT_MAX_CONCURRENT_PUSHES="1"
    )
    busy = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    other = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    sockets = {}
    for account, name in ((busy, "busy"), (other, "other")):
        ws = await connect(client, account, client_id=name)
        await until(ws, "caught_up")
        sockets[name] = ws

    def frame(name: str) -> dict[str, Any]:
        change = upsert("task", uuid.uuid4(), name, title="From the socket")
        return {
            "type": "push",
            "client_id": name,
            "batch_id": uuid.uuid4().hex,
            "changes": [change],
        }

    limits = client.app[LIMITS]
    async with limits.pushing(busy.tenant.id):
        await sockets["busy"].send_json(frame("busy"))
        refused = (await until(sockets["busy"], "push_result"))[-1]
        assert refused["problem"]["code"] == "too_many_pushes"
        assert refused["problem"]["status"] == 429
        await sockets["other"].send_json(frame("other"))
        applied = (await until(sockets["other"], "push_result"))[-1]
        assert [r["status"] for r in applied["results"]] == ["applied"]
    await sockets["busy"].send_json(frame("busy"))
    later = (await until(sockets["busy"], "push_result"))[-1]
    assert [r["status"] for r in later["results"]] == ["applied"]
    for ws in sockets.values():
        await ws.close()


async def test_push_frames_spend_the_tenants_budget(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    """A `push` frame takes a token of the tenant's budget, as an HTTP push does: once
    spent, its `push_result` holds 429 `tenant_rate_limited`; another tenant pushes on."""
    client = await limited_client(
        aiohttp_client,
        database_url,
        tmp_path,
        TENANT_REQUESTS_PER_SECOND="0.001",  # no refill within a test
        TENANT_BURST="2",
    )
    flooder = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    neighbour = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    sockets = {}
    for account, name in ((flooder, "flood"), (neighbour, "calm")):
        ws = await connect(client, account, client_id=name)
        await until(ws, "caught_up")
        sockets[name] = ws

    async def push_frame(name: str) -> dict[str, Any]:
        change = upsert("task", uuid.uuid4(), name, title="Budgeted")
        await sockets[name].send_json(
            {"type": "push", "client_id": name, "batch_id": uuid.uuid4().hex, "changes": [change]}
        )
        return (await until(sockets[name], "push_result"))[-1]

    for _ in range(2):  # the burst
        assert "results" in await push_frame("flood")
    spent = await push_frame("flood")
    assert spent["problem"]["code"] == "tenant_rate_limited"
    assert spent["problem"]["retry_after"] >= 1
    assert "results" in await push_frame("calm")
    for ws in sockets.values():
        await ws.close()


def test_the_limits_are_documented() -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    for name in (
        "TENANT_REQUESTS_PER_SECOND",
        "TENANT_BURST",
        "TENANT_MAX_CONCURRENT_PUSHES",
        "TENANT_MAX_LIVE_SOCKETS",
        "PROCESS_MAX_CONCURRENT_PUSHES",
        "PROCESS_MAX_LIVE_SOCKETS",
    ):
        assert f"`{name}`" in page
    assert "## Fair limits per tenant" in page
