"""One simulated phone: its file, its client, its network, and its user's habits.

A device goes online (a live socket, or polling over HTTP) and offline
(its sync task is stopped; edits go on into the outbox), and may be
"killed": its sync task is cancelled wherever it stands and its client
dropped without a goodbye, then reopened from the same SQLite file, as a
restarted app would be. Its technician edits the tasks assigned to them:
guarded fields (`priority`, `due_at`), an unguarded one (`description`),
timeline notes, purchases (a new one and an edit of an earlier one queued
together, so one batch edits a row and creates another of its entity), and
lifecycle actions on the tasks they hold alone (start, pause or complete,
resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from syncd_client.backoff import RetryPolicy
from syncd_client.client import SyncClient
from syncd_client.errors import SyncClientError
from syncd_client.provision import Member
from syncd_client.session import Credentials
from syncd_client.store import Acknowledged, LocalStore

Mode = Literal["live", "poll"]
PRIORITIES = ("low", "normal", "high", "urgent")
EDITS: tuple[tuple[str, float], ...] = (
    ("priority", 0.3),
    ("due_at", 0.15),
    ("description", 0.15),
    ("note", 0.15),
    ("purchase", 0.1),
    ("action", 0.15),
)
NEXT_ACTIONS = {"assigned": ("start",), "in_progress": ("pause", "complete"), "paused": ("resume",)}
PURCHASED_AT = "2026-06-01T09:00:00Z"
STOP_GRACE_S = 2.0


@dataclass(slots=True)
class Device:
    client_id: str
    member: Member
    base_url: str
    tenant: str
    path: Path
    mode: Mode
    rng: random.Random
    retry: RetryPolicy
    poll_s: float = 1.0
    refresh_margin_s: float = 15.0
    edits: tuple[tuple[str, float], ...] = EDITS  # kinds of edit and their weights
    stats: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    client: SyncClient | None = None
    _stop: asyncio.Event | None = None
    _sync: asyncio.Task[None] | None = None
    _edits: int = 0

    # --- lifecycle ---------------------------------------------------------------

    async def open(self) -> SyncClient:
        store = LocalStore(self.path, self.client_id, keep_history=True, synchronous="NORMAL")
        self.client = SyncClient(
            self.base_url,
            self.tenant,
            store,
            credentials=Credentials(self.member.email, self.member.password),
            on_conflict=self._heard,
            retry=self.retry,
            rng=random.Random(self.rng.random()),  # noqa: S311 - simulation, not secrets
            heartbeat_s=10.0,
            refresh_margin_s=self.refresh_margin_s,
        )
        return await self.client.start()

    async def close(self) -> None:
        await self.go_offline()
        if self.client is not None:
            self.stats.update(self.client.stats)
            await self.client.close()
            self.client = None

    async def crash(self) -> None:
        """Kill the app wherever it stands, then start it again from its file."""
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
            self._sync = None
        await self.close()
        self.stats["crashes"] += 1
        await self.open()

    def _heard(self, ack: Acknowledged) -> None:
        self.stats[f"heard_{ack.status.value}"] += 1

    @property
    def online(self) -> bool:
        return self._sync is not None and not self._sync.done()

    def go_online(self) -> None:
        if self.online:
            return
        self._stop = asyncio.Event()
        self._sync = asyncio.create_task(self._run_online(self._stop), name=self.client_id)

    async def go_offline(self) -> None:
        """Stop syncing: gracefully if that is quick, else as a network cut."""
        if self._sync is None or self._stop is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._sync), STOP_GRACE_S)
        except TimeoutError:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
        self._sync = None
        self.stats["offline_periods"] += 1

    async def _run_online(self, stop: asyncio.Event) -> None:
        assert self.client is not None
        try:
            if self.mode == "live":
                await self.client.run_live(stop)
                return
            while not stop.is_set():
                await self.client.sync()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)
        except SyncClientError as exc:
            self.errors.append(f"{self.client_id}: {type(exc).__name__}: {exc}")

    # --- the technician's habits --------------------------------------------------

    def edit(self) -> str | None:
        """Make one random edit to an assigned task; answers its kind (None: no task yet)."""
        assert self.client is not None
        client = self.client
        tasks = client.rows("task")
        if not tasks:
            return None
        task_id = uuid.UUID(self.rng.choice(sorted(tasks)))
        kind: str = self.rng.choices([k for k, _ in self.edits], [w for _, w in self.edits])[0]
        self._edits += 1
        if kind == "priority":
            client.update("task", task_id, {"priority": self.rng.choice(PRIORITIES)})
        elif kind == "due_at":
            client.update("task", task_id, {"due_at": self._due_at()})
        elif kind == "description":
            text = f"{self.client_id} edit {self._edits}"
            client.update("task", task_id, {"description": text})
        elif kind == "note":
            client.add_event(task_id, "note", payload={"text": f"note {self._edits}"})
        elif kind == "purchase":
            self._purchase(task_id)
        else:
            return self._act()
        return kind

    def _purchase(self, task_id: uuid.UUID) -> None:
        """Buy something for the task; correct the amount of an earlier purchase."""
        assert self.client is not None
        mine = sorted(
            row_id
            for row_id, row in self.client.rows("purchase").items()
            if row.get("created_by") == self.member.user_id and row.get("deleted_at") is None
        )
        if mine:
            amount = self.rng.randrange(100, 100_000)
            self.client.update(
                "purchase", uuid.UUID(self.rng.choice(mine)), {"amount_minor": amount}
            )
        self.client.create(
            "purchase",
            {
                "task_id": str(task_id),
                "vendor": f"{self.client_id} shop {self._edits}",
                "amount_minor": self.rng.randrange(100, 100_000),
                "currency": "SAR",
                "purchased_at": PURCHASED_AT,
            },
        )

    def _due_at(self) -> str:
        day = self.rng.randrange(1, 29)
        hour = self.rng.randrange(7, 19)
        minute = self.rng.randrange(0, 60)
        return f"2026-06-{day:02d}T{hour:02d}:{minute:02d}:00Z"

    def _act(self) -> str | None:
        """The next lifecycle step on a task only this technician holds."""
        assert self.client is not None
        mine = sorted(self.sole_tasks())
        if not mine:
            return None
        task_id = self.rng.choice(mine)
        task = self.client.get("task", task_id)
        actions = NEXT_ACTIONS.get(str((task or {}).get("status")))
        if not actions:
            return None
        action = self.rng.choice(actions)
        self.client.act(uuid.UUID(task_id), action)
        return action

    def sole_tasks(self) -> set[str]:
        """Tasks assigned to this technician and to nobody else."""
        assert self.client is not None
        return {
            task for task, users in holders(self.client).items() if users == {self.member.user_id}
        }


def holders(client: SyncClient) -> dict[str, set[str]]:
    """The technicians holding each task, as the client sees the assignments."""
    found: dict[str, set[str]] = {}
    for row in client.rows("task_assignment").values():
        if row.get("active"):
            found.setdefault(str(row["task_id"]), set()).add(str(row["user_id"]))
    return found


async def routine(
    device: Device,
    seconds: float,
    *,
    think_s: float,
    online_s: float,
    offline_s: float,
    crash_rate: float,
    clock: Callable[[], float],
) -> None:
    """A technician's day: online and offline periods, edits all along."""
    deadline = clock() + seconds
    rng = device.rng
    while clock() < deadline:
        device.go_online()
        until = min(deadline, clock() + rng.expovariate(1 / online_s))
        crash_at = clock() + rng.uniform(0, until - clock()) if rng.random() < crash_rate else None
        while clock() < until:
            if crash_at is not None and clock() >= crash_at:
                await device.crash()
                device.go_online()
                crash_at = None
            _count(device, device.edit())
            await asyncio.sleep(min(rng.expovariate(1 / think_s), max(0.0, until - clock())))
        if crash_at is not None:  # the period ended first: the kill comes now
            await device.crash()
        await device.go_offline()
        until = min(deadline, clock() + rng.expovariate(1 / offline_s))
        while clock() < until:
            _count(device, device.edit())
            await asyncio.sleep(rng.expovariate(1 / think_s))


def _count(device: Device, kind: str | None) -> None:
    device.stats[f"edit_{kind}" if kind else "idle"] += 1


def summary(devices: list[Device]) -> dict[str, Any]:
    """Counters summed over devices (including clients dropped by crashes)."""
    total: Counter[str] = Counter()
    for device in devices:
        total.update(device.stats)
        if device.client is not None:
            total.update(device.client.stats)
    return dict(sorted(total.items()))
