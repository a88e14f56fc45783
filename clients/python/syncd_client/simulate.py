"""A fleet of simulated technicians against a syncd, for demos and load.

`Fleet` makes the users (one office admin, N technicians) through the public
API, has the office device create tasks and assign them (each technician
holds `own_tasks` alone; each shared task goes to several technicians), runs
every technician's day (device.py) while the office works too: it edits
priorities, takes technicians off shared tasks and puts them back (their
rows leave and return to the phones), deletes purchases and reopens
completed tasks, all through its own device. Then it brings every device
online until all outboxes are empty and every replica has pulled the last
change (`converge`), and checks each replica against a fresh pull of its
scope (`divergent`). `resolve_conflicts` then settles every open conflict
through the inbox, after which the devices converge again.

The figures (`figures()`) are counters summed over devices: changes queued
and answered by outcome, retries, token refreshes, reconnects, crashes.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from protocol import versions
from syncd_client.backoff import RetryPolicy
from syncd_client.client import SyncClient
from syncd_client.device import EDITS, PRIORITIES, Device, holders, routine, summary
from syncd_client.errors import ProblemError
from syncd_client.provision import Member, add_member, admin_token
from syncd_client.transport import Transport

OFFICE_WORK: tuple[tuple[str, float], ...] = (
    ("priority", 0.5),
    ("reassign", 0.25),
    ("delete_purchase", 0.1),
    ("reopen", 0.15),
)


@dataclass(frozen=True, slots=True)
class Plan:
    devices: int = 5
    seconds: float = 60.0
    seed: int = 0
    own_tasks: int = 2
    shared_tasks: int = 0  # 0: one per two technicians
    assignees_per_shared: int = 3
    think_s: float = 0.6  # mean pause between a technician's edits
    online_s: float = 8.0  # mean length of a connected period
    offline_s: float = 3.0  # mean length of an offline period
    crash_rate: float = 0.0  # chance per online period that the app is killed
    live_share: float = 0.5  # share of devices on the live socket (the others poll)
    staff_think_s: float = 2.0
    refresh_margin_s: float = 15.0  # refresh a token this long before it expires
    edits: tuple[tuple[str, float], ...] = EDITS  # a technician's kinds of edit, weighted
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_s=0.1, cap_s=3.0))
    password: str = ""  # the users' password; generated when empty
    tag: str = ""  # names this run's users and devices; random when empty


class Fleet:
    def __init__(self, base_url: str, tenant: str, plan: Plan, data_dir: Path) -> None:
        self.base_url = base_url
        self.tenant = tenant
        self.plan = plan
        self.data_dir = data_dir
        self.rng = random.Random(plan.seed)  # noqa: S311 - simulation, not secrets
        self.tag = plan.tag or secrets.token_hex(3)  # not seeded: reruns need new users
        self.staff: Device | None = None
        self.technicians: list[Device] = []
        self.task_ids: list[uuid.UUID] = []
        self.shared_ids: list[uuid.UUID] = []
        self.taken_off: list[tuple[uuid.UUID, uuid.UUID]] = []  # (task, technician) to put back
        self.resolutions: Counter[str] = Counter()
        self.converge_s: float | None = None

    @property
    def devices(self) -> list[Device]:
        return ([self.staff] if self.staff else []) + self.technicians

    # --- setting up ---------------------------------------------------------------

    async def provision(self, admin_email: str, admin_password: str) -> None:
        """Create the staff member and the technicians, and their devices."""
        async with aiohttp.ClientSession() as http:
            transport = Transport(self.base_url, self.tenant, http)
            token = await admin_token(transport, admin_email, admin_password)
            password = self.plan.password or secrets.token_urlsafe(12)
            staff = await add_member(
                transport, token, f"office.{self.tag}@simulate.example", "admin", password
            )
            members = [
                await add_member(
                    transport,
                    token,
                    f"tech{n:03d}.{self.tag}@simulate.example",
                    "technician",
                    password,
                )
                for n in range(self.plan.devices)
            ]
        self.staff = self._device(f"sim-{self.tag}-office", staff, "poll")
        live = round(self.plan.devices * self.plan.live_share)
        self.technicians = [
            self._device(f"sim-{self.tag}-t{n:03d}", member, "live" if n < live else "poll")
            for n, member in enumerate(members)
        ]

    def _device(self, client_id: str, member: Member, mode: str) -> Device:
        return Device(
            client_id,
            member,
            self.base_url,
            self.tenant,
            self.data_dir / f"{client_id}.db",
            "live" if mode == "live" else "poll",
            random.Random(f"{self.plan.seed}/{client_id}"),  # noqa: S311 - simulation
            self.plan.retry,
            refresh_margin_s=self.plan.refresh_margin_s,
            edits=self.plan.edits,
        )

    async def open(self) -> None:
        """Open every device and sign it in; the staff device creates and assigns tasks."""
        for device in self.devices:
            client = await device.open()
            await client.session.access_token()
        await self._create_tasks()

    async def _create_tasks(self) -> None:
        assert self.staff is not None
        assert self.staff.client is not None
        staff = self.staff.client
        users = [uuid.UUID(t.member.user_id) for t in self.technicians]
        holders: list[list[uuid.UUID]] = [[u] for u in users for _ in range(self.plan.own_tasks)]
        shared = self.plan.shared_tasks or max(1, len(users) // 2)
        size = min(self.plan.assignees_per_shared, len(users))
        holders += [self.rng.sample(users, size) for _ in range(shared)]
        for number, assignees in enumerate(holders):
            fields = {"title": f"Job {number + 1}", "priority": "normal", "description": ""}
            task_id = staff.create("task", fields)
            self.task_ids.append(task_id)
            if len(assignees) > 1:
                self.shared_ids.append(task_id)
            for user_id in assignees:
                staff.act(task_id, "assign", user_id=user_id)
        await staff.sync()

    # --- running -------------------------------------------------------------------

    async def run(self) -> None:
        """Every technician's day, and the staff member's edits, for `plan.seconds`."""
        plan = self.plan
        days = [
            routine(
                device,
                plan.seconds,
                think_s=plan.think_s,
                online_s=plan.online_s,
                offline_s=plan.offline_s,
                crash_rate=plan.crash_rate,
                clock=time.monotonic,
            )
            for device in self.technicians
        ]
        await asyncio.gather(*days, self._staff_day())

    async def _staff_day(self) -> None:
        assert self.staff is not None
        assert self.staff.client is not None
        staff, rng = self.staff, self.staff.rng
        staff.go_online()
        deadline = time.monotonic() + self.plan.seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.expovariate(1 / self.plan.staff_think_s))
            kind = rng.choices([k for k, _ in OFFICE_WORK], [w for _, w in OFFICE_WORK])[0]
            done = self._office(kind)
            staff.stats[f"office_{kind}" if done else "office_idle"] += 1
        await staff.go_offline()

    def _office(self, kind: str) -> bool:
        """One piece of the office's work through its device; False if there was none."""
        assert self.staff is not None
        client, rng = self.staff.client, self.staff.rng
        assert client is not None
        if kind == "priority":
            client.update("task", rng.choice(self.task_ids), {"priority": rng.choice(PRIORITIES)})
            return True
        if kind == "reassign":
            if self.taken_off and rng.random() < 0.5:
                task_id, user_id = self.taken_off.pop(rng.randrange(len(self.taken_off)))
                client.act(task_id, "assign", user_id=user_id)
                return True
            holding = holders(client)
            choices = [
                (task_id, user)
                for task_id in self.shared_ids
                for user in sorted(holding.get(str(task_id), ()))
                if (client.get("task", task_id) or {}).get("status") == "assigned"
            ]
            if not choices:
                return False
            task_id, user = rng.choice(choices)
            client.act(task_id, "unassign", user_id=uuid.UUID(user))
            self.taken_off.append((task_id, uuid.UUID(user)))
            return True
        if kind == "delete_purchase":
            purchases = sorted(client.rows("purchase"))
            if not purchases:
                return False
            client.delete("purchase", uuid.UUID(rng.choice(purchases)))
            return True
        done = sorted(
            t for t, row in client.rows("task").items() if row.get("status") == "completed"
        )
        if not done:
            return False
        client.act(uuid.UUID(rng.choice(done)), "reopen")
        return True

    async def resolve_conflicts(self) -> int:
        """Settle every open conflict through the inbox (as the office's admin);
        answers how many were resolved."""
        assert self.staff is not None
        assert self.staff.client is not None
        call, rng = self.staff.client.session.call, self.staff.rng
        resolved = 0
        while True:
            page = await call("GET", "/conflicts", params={"status": "open", "limit": "200"})
            if not page["items"]:
                return resolved
            for item in page["items"]:
                choice = "keep_server"
                if item["kind"] != "stale_action" and rng.random() < 0.5:
                    choice = "take_client"
                try:
                    answer = await call(
                        "POST", f"/conflicts/{item['id']}/resolve", json_body={"resolution": choice}
                    )
                except ProblemError as exc:
                    if exc.code != "conflict_already_resolved":
                        raise
                    answer = {"version": None}  # our own answer was lost and we retried
                    self.resolutions["retried"] += 1
                self.resolutions[choice if answer.get("version") else "unchanged"] += 1
                resolved += 1

    async def converge(self) -> float:
        """Sync every device until nothing is left to push; answers the seconds it took."""
        started = time.monotonic()
        clients = self._clients()
        for device in self.devices:
            await device.go_offline()
        while True:
            pushed = sum(await asyncio.gather(*(c.push() for c in clients)))
            await asyncio.gather(*(c.pull() for c in clients))
            if pushed == 0:
                break
        self.converge_s = time.monotonic() - started
        return self.converge_s

    def _clients(self) -> list[SyncClient]:
        clients = [d.client for d in self.devices]
        assert all(c is not None for c in clients)
        return [c for c in clients if c is not None]

    async def divergent(self) -> list[str]:
        """Devices whose replica differs from a fresh pull of their scope."""
        different = []
        for device in self.devices:
            assert device.client is not None
            if device.client.store.rows() != await server_view(device.client):
                different.append(device.client_id)
        return different

    async def close(self) -> None:
        for device in self.devices:
            await device.close()

    # --- figures -------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        counters = summary(self.devices)
        return {
            "devices": len(self.technicians),
            "tasks": len(self.task_ids),
            "changes": counters.get("queued", 0),
            "acknowledged": counters.get("pushed", 0),
            "applied": counters.get("applied", 0),
            "conflict": counters.get("conflict", 0),
            "superseded": counters.get("superseded", 0),
            "rejected": counters.get("rejected", 0),
            "retries": counters.get("retries", 0),
            "refreshes": counters.get("refreshes", 0),
            "relogins": counters.get("relogins", 0),
            "reconnects": counters.get("reconnects", 0),
            "crashes": counters.get("crashes", 0),
            "offline_periods": counters.get("offline_periods", 0),
            "purchases": counters.get("edit_purchase", 0),
            "office": {k[7:]: v for k, v in counters.items() if k.startswith("office_")},
            "errors": sum(len(d.errors) for d in self.devices),
            "converge_s": None if self.converge_s is None else round(self.converge_s, 2),
        }


async def server_view(client: SyncClient) -> dict[tuple[str, str], dict[str, Any]]:
    """What a fresh device of the same user would hold: a pull from the start."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": "1000", "schema": str(versions.CURRENT)} | (
            {"since": cursor} if cursor else {}
        )
        page = await client.session.call("GET", "/sync/pull", params=params)
        for change in page["changes"]:
            key = (change["entity"], change["id"])
            if change["op"] == "upsert":
                rows[key] = change["data"]
            else:
                rows.pop(key, None)
        cursor = page["cursor"]
        if not page["has_more"]:
            return rows
