"""A fleet set up through the API, as an office would: technicians, tasks, assignments.

Technicians are invited by the admin and accept at once (`POST /users/invite`,
`POST /auth/accept-invite`: outside production the invitation's token comes
back in the answer, and accepting signs the technician in). Tasks are pushed
by the admin in batches, then assigned with `assign` actions, so every row,
log entry and timeline entry is the server's own. `push_steadily` is the
pushing side of the fan-out benchmarks: one change per request at a steady
rate, each request's send time kept with the version it made.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from syncd_server import PASSWORD, TENANT

SCHEMA = 2  # the app schema these devices are built for (docs/protocol.md, Schema versions)

BATCH = 500  # changes per push, the server's default maximum
PUSH_TIMEOUT = aiohttp.ClientTimeout(total=60)  # a commit not answered by then failed


class Clock:
    """A device's hybrid logical clock: text stamps that only go up."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.ms = 0
        self.counter = 0

    def __call__(self) -> str:
        now = int(time.time() * 1000)
        if now > self.ms:
            self.ms, self.counter = now, 0
        elif self.counter < 9999:
            self.counter += 1
        else:  # 10,000 stamps in one millisecond: borrow the next one
            self.ms, self.counter = self.ms + 1, 0
        return f"{self.ms:013d}:{self.counter:04d}:{self.node}"


@dataclass(frozen=True, slots=True)
class Technician:
    user_id: str
    email: str
    token: str


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sending_json(token: str) -> dict[str, str]:
    return {**bearer(token), "Content-Type": "application/json"}


async def answer_of(response: aiohttp.ClientResponse, expected: int = 200) -> Any:
    body = await response.read()
    if response.status != expected:
        where = f"{response.method} {response.url.path}"
        raise RuntimeError(f"{where}: {response.status} {body[:500]!r}")
    return orjson.loads(body)


async def invite_technicians(
    http: aiohttp.ClientSession, base: str, admin: str, count: int, at_once: int = 8
) -> list[Technician]:
    """`count` technicians, invited by the admin and signed in by accepting."""
    gate = asyncio.Semaphore(at_once)
    run = uuid.uuid4().hex[:6]

    async def one(n: int) -> Technician:
        email = f"tech-{run}-{n}@fleet.example"
        async with gate:
            async with http.post(
                f"{base}/users/invite",
                json={"email": email, "role": "technician", "display_name": f"Tech {n}"},
                headers=bearer(admin),
            ) as response:
                invited = await answer_of(response, 201)
            async with http.post(
                f"{base}/auth/accept-invite",
                json={"token": invited["invite_token"], "password": PASSWORD},
                headers={"X-Tenant": TENANT},
            ) as response:
                pair = await answer_of(response)
        return Technician(invited["user"]["id"], email, pair["access_token"])

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def push_all(
    http: aiohttp.ClientSession,
    base: str,
    token: str,
    changes: list[dict[str, Any]],
    client_id: str,
) -> tuple[list[dict[str, Any]], str]:
    """Push `changes` in batches of BATCH, each change required to apply; answers
    every result in order and the last cursor (the tenant's version after)."""
    results: list[dict[str, Any]] = []
    cursor = ""
    for start in range(0, len(changes), BATCH):
        body = {
            "client_id": client_id,
            "batch_id": uuid.uuid4().hex,
            "changes": changes[start : start + BATCH],
            "schema": SCHEMA,
        }
        async with http.post(
            f"{base}/sync/push", data=orjson.dumps(body), headers=sending_json(token)
        ) as response:
            answer = await answer_of(response)
        refused = [r for r in answer["results"] if r["status"] != "applied"]
        if refused:
            raise RuntimeError(f"{len(refused)} changes not applied, first: {refused[0]}")
        results += answer["results"]
        cursor = answer["cursor"]
    return results, cursor


def task_creation(task_id: str, n: int, stamp: str) -> dict[str, Any]:
    return {
        "entity": "task",
        "id": task_id,
        "op": "upsert",
        "fields": {
            "title": f"Replace pump seal #{n}",
            "description": "Pump leaks under load; check the seals and the valve. " * 2,
            "priority": "normal",
            "location": {"address": f"{n} Olaya St, Riyadh", "lat": 24.69, "lng": 46.68},
        },
        "hlc": stamp,
        "base_version": 0,
    }


def assignment(task_id: str, user_id: str, stamp: str, base_version: int) -> dict[str, Any]:
    return {
        "entity": "task",
        "id": task_id,
        "op": "action",
        "action": "assign",
        "fields": {"user_id": user_id},
        "hlc": stamp,
        "base_version": base_version,
    }


async def assigned_tasks(
    http: aiohttp.ClientSession,
    base: str,
    admin: str,
    technicians: list[Technician],
    per_technician: int,
) -> tuple[dict[str, list[str]], str, int]:
    """Create `per_technician` tasks for each technician and assign them through
    the API; answers the task ids by technician user id, and the cursor and
    tenant version after."""
    clock = Clock("office")
    owners = [t.user_id for t in technicians for _ in range(per_technician)]
    ids = [str(uuid.uuid4()) for _ in owners]
    creations = [task_creation(i, n, clock()) for n, i in enumerate(ids)]
    created, _ = await push_all(http, base, admin, creations, "office")
    actions = [
        assignment(i, owner, clock(), r["version"])
        for i, owner, r in zip(ids, owners, created, strict=True)
    ]
    assigned, cursor = await push_all(http, base, admin, actions, "office")
    by_owner: dict[str, list[str]] = {}
    for task_id, owner in zip(ids, owners, strict=True):
        by_owner.setdefault(owner, []).append(task_id)
    return by_owner, cursor, max(r["version"] for r in assigned)


@dataclass
class Pushes:
    """What the pushing client saw: each applied commit's send time and task,
    request durations, failures."""

    sent: dict[int, float] = field(default_factory=dict)  # version -> send time
    task_of: dict[int, str] = field(default_factory=dict)  # version -> task id
    durations_ms: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def commits(self) -> list[tuple[int, str]]:
        return sorted(self.task_of.items())


async def push_steadily(
    http: aiohttp.ClientSession,
    base: str,
    token: str,
    make: Callable[[int], dict[str, Any]],
    count: int,
    rate: float,
) -> Pushes:
    """Push `count` one-change batches (`make(i)`), one every 1/rate s, without
    waiting for answers; a commit's time is its request's send time."""
    pushes = Pushes()
    headers = sending_json(token)

    async def push(index: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        change = make(index)
        body = {
            "client_id": "pusher",
            "batch_id": uuid.uuid4().hex,
            "changes": [change],
            "schema": SCHEMA,
        }
        data = orjson.dumps(body)
        sent_at = time.monotonic()
        try:
            async with http.post(
                f"{base}/sync/push", data=data, headers=headers, timeout=PUSH_TIMEOUT
            ) as response:
                answer = orjson.loads(await response.read())
                answered_at = time.monotonic()
        except TimeoutError:
            pushes.failed.append(f"no answer in {PUSH_TIMEOUT.total:g} s")
            return
        pushes.durations_ms.append((answered_at - sent_at) * 1000)
        result = answer.get("results", [{}])[0]
        if response.status != 200 or result.get("status") != "applied":
            pushes.failed.append(f"{response.status} {answer.get('code', result)}")
            return
        version = int(result["version"])
        pushes.sent[version] = sent_at
        pushes.task_of[version] = change["id"]

    start = time.monotonic() + 0.1
    await asyncio.gather(*(push(i, start + i / rate) for i in range(count)))
    return pushes


async def current_cursor(http: aiohttp.ClientSession, base: str, token: str) -> str:
    """The cursor after the whole current state (what a device holds once synced)."""
    cursor: str | None = None
    while True:
        params = {"limit": "5000", "schema": str(SCHEMA)} | ({"since": cursor} if cursor else {})
        async with http.get(f"{base}/sync/pull", params=params, headers=bearer(token)) as response:
            page = await answer_of(response)
        cursor = page["cursor"]
        if not page["has_more"]:
            assert cursor is not None
            return cursor
