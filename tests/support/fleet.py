"""The fleet run behind tests/e2e/sync/test_fleet.py: N simulated devices through a
fault-injecting proxy to real `syncd serve` processes, one server killed and
restarted midway, then the checks (divergent, lost, duplicated, stuck, expected
conflicts, convergence after resolution), the report and its one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from syncd_client.device import EDITS
from syncd_client.provision import admin_token
from syncd_client.simulate import Fleet, Plan
from syncd_client.transport import Transport
from tests.support.faultproxy import FaultProxy, Faults
from tests.support.fleet_oracle import (
    Expectation,
    action_event_counts,
    expect,
    lost_fields,
    lost_rows,
)
from tests.support.processes import PASSWORD, SYNCD, clean_env, free_port, start

ADMIN = "admin@demo.example"


TENANT = "demo"


FAULTS = Faults(
    drop_request=0.02,
    drop_response=0.02,
    delay=0.05,
    max_delay_s=0.3,
    ws_cut=0.3,
    ws_max_life_s=8.0,
)


def fleet_env(server_env: dict[str, str], redis_url: str) -> dict[str, str]:
    """The server's settings for the run: Redis, short-lived tokens, quick heartbeats."""
    return {
        **server_env,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"fleet-{uuid.uuid4().hex[:8]}:",
        "ACCESS_TOKEN_TTL_SECONDS": "60",  # the shortest allowed: devices must refresh
        "WS_HEARTBEAT_SECONDS": "5",
    }


async def run_fleet(
    env: dict[str, str],
    workdir: Path,
    *,
    devices: int,
    seconds: float,
    seed: int,
    processes: int = 1,
    edits: tuple[tuple[str, float], ...] = EDITS,
) -> dict[str, Any]:
    """Run the simulation and check its end state; answers the figures."""
    ports = [free_port() for _ in range(processes)]
    servers = [await asyncio.to_thread(start, env, port, workdir) for port in ports]
    try:
        async with FaultProxy(ports, Faults.none(), seed) as proxy:
            plan = Plan(
                devices=devices,
                seconds=seconds,
                seed=seed,
                crash_rate=0.25,
                online_s=6.0,
                offline_s=3.0,
                think_s=0.5,
                staff_think_s=1.0,
                refresh_margin_s=40.0,  # tokens live 60 s: refresh during the run
                edits=edits,
            )
            fleet = Fleet(f"http://127.0.0.1:{proxy.port}", TENANT, plan, workdir / "devices")
            (workdir / "devices").mkdir(exist_ok=True)
            await fleet.provision(ADMIN, PASSWORD)
            try:
                await fleet.open()
                proxy.faults = FAULTS
                day = asyncio.create_task(fleet.run())
                await asyncio.sleep(seconds * 0.45)
                os.kill(servers[0].pid, signal.SIGKILL)
                await asyncio.to_thread(servers[0].wait, 10)
                servers[0] = await asyncio.to_thread(start, env, ports[0], workdir)
                await day
                await converge_or_explain(fleet, limit_s=30 + devices)
                figures = await check(fleet, ports[-1])
                # The office settles every conflict; the devices converge to it.
                figures["resolved"] = await fleet.resolve_conflicts()
                figures["resolutions"] = dict(fleet.resolutions)
                await converge_or_explain(fleet, limit_s=30 + devices)
                figures["divergent_after_resolution"] = len(await fleet.divergent())
                figures["stuck"] = sum(
                    1
                    for d in fleet.devices
                    if d.client is not None and d.client.store.outbox_size()
                )
            finally:
                await fleet.close()
            figures["faults_injected"] = proxy.injected
            figures["faults"] = {k: v for k, v in sorted(proxy.counts.items())}
            figures["server_kills"] = 1
            figures["processes"] = processes
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)
    return figures


async def converge_or_explain(fleet: Fleet, limit_s: float) -> None:
    """Converge, or fail saying which devices could not empty their outbox and why."""
    try:
        async with asyncio.timeout(limit_s):
            await fleet.converge()
    except TimeoutError:
        stuck = {
            d.client_id: f"batch {d.client.store.in_flight()}: {d.client.session.last_failure}"
            for d in fleet.devices
            if d.client is not None and d.client.store.outbox_size()
        }
        raise AssertionError(f"no convergence in {limit_s:.0f} s; stuck: {stuck}") from None


async def check(fleet: Fleet, port: int) -> dict[str, Any]:
    """Compare every replica and the clients' records with the server."""
    assert fleet.staff is not None
    assert fleet.staff.client is not None
    histories = {d.client_id: d.client.store.history() for d in fleet.devices if d.client}
    expectation = expect(histories)
    pulled = await full_pull(fleet.staff.client.session.call)  # staff see every row
    server = {(c["entity"], c["id"]): c["data"] for c in pulled}
    conflicts = await server_conflicts(port)
    lost, duplicated = _lost_and_duplicated(fleet, expectation, pulled, server)
    figures = fleet.figures()
    figures.update(
        divergent=len(await fleet.divergent()),
        lost=len(lost),
        duplicated=len(duplicated),
        conflicts_expected=expectation.conflicts,
        conflicts_opened=len(conflicts),
        conflicts_by_kind=dict(Counter(c["kind"] for c in conflicts)),
        details={
            "lost": lost[:20],
            "duplicated": duplicated[:20],
            "conflict_mismatches": expectation.conflict_mismatches[:20],
            "errors": [e for d in fleet.devices for e in d.errors][:20],
        },
    )
    return figures


def _lost_and_duplicated(
    fleet: Fleet,
    expectation: Expectation,
    pulled: list[dict[str, Any]],
    server: dict[tuple[str, str], dict[str, Any]],
) -> tuple[list[str], list[str]]:
    lost = lost_fields(expectation, server) + lost_rows(expectation, server)
    duplicated = [f"{key} pulled {n} times" for key, n in _repeats(pulled).items()]
    made = action_event_counts(server)
    for key in made.keys() | expectation.action_events.keys():
        wanted = expectation.action_events[key]
        if made[key] > wanted:
            duplicated.append(f"action events {key}: {made[key]}, acknowledged {wanted}")
        elif made[key] < wanted:
            lost.append(f"action events {key}: {made[key]}, acknowledged {wanted}")
    notes = sum(1 for (e, _), row in server.items() if e == "task_event" and row["kind"] == "note")
    created_notes = sum(1 for e, _ in expectation.created if e == "task_event")
    if notes > created_notes:
        duplicated.append(f"{notes} notes on the server, {created_notes} acknowledged")
    tasks = sum(1 for e, _ in server if e == "task")
    if tasks != len(fleet.task_ids):
        duplicated.append(f"{tasks} tasks on the server, {len(fleet.task_ids)} created")
    return lost, duplicated


def _repeats(pulled: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    counts = Counter((c["entity"], c["id"]) for c in pulled)
    return {key: n for key, n in counts.items() if n > 1}


async def full_pull(call: Any) -> list[dict[str, Any]]:
    """Every change of a pull from the start (a snapshot of the caller's scope)."""
    changes: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "1000"} | ({"since": cursor} if cursor else {})
        page = await call("GET", "/sync/pull", params=params)
        changes.extend(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes


async def server_conflicts(port: int) -> list[dict[str, Any]]:
    """Every conflict the server opened, through the admins' inbox (no proxy)."""
    items: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        transport = Transport(f"http://127.0.0.1:{port}", TENANT, http)
        token = await admin_token(transport, ADMIN, PASSWORD)
        cursor: str | None = None
        while True:
            params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
            page = await transport.request("GET", "/conflicts", token=token, params=params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def report(figures: dict[str, Any]) -> str:
    shown = {k: v for k, v in figures.items() if k != "details"}
    width = max(len(k) for k in shown)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in shown.items())


def one_line(backend: str, figures: dict[str, Any]) -> str:
    """The run in one line: what must be 0, then what happened."""
    return (
        f"fleet {backend} x{figures['processes']}: devices={figures['devices']} "
        f"changes={figures['changes']} divergent={figures['divergent']} lost={figures['lost']} "
        f"duplicated={figures['duplicated']} stuck={figures['stuck']} "
        f"divergent_after_resolution={figures['divergent_after_resolution']} "
        f"conflicts={figures['conflicts_opened']} resolved={figures['resolved']} "
        f"rejected={figures['rejected']} purchases={figures['purchases']} "
        f"office={figures['office']} crashes={figures['crashes']} "
        f"server_kills={figures['server_kills']} faults={figures['faults_injected']}"
    )


def assert_sound(figures: dict[str, Any]) -> None:
    details = json.dumps(figures["details"], indent=1)
    assert figures["errors"] == 0, details
    assert figures["divergent"] == 0, details
    assert figures["lost"] == 0, details
    assert figures["duplicated"] == 0, details
    assert figures["details"]["conflict_mismatches"] == [], details
    assert figures["conflicts_opened"] == figures["conflicts_expected"], details
    assert figures["conflict"] == figures["conflicts_expected"], details
    assert figures["acknowledged"] == figures["changes"], details  # every outbox emptied
    assert figures["stuck"] == 0, details
    assert figures["divergent_after_resolution"] == 0, details


def prepared_env(database_url: str, workdir: Path) -> dict[str, str]:
    """What the `server_env` fixture makes, for a run outside pytest."""
    env = clean_env(
        DATABASE_URL=database_url.replace("+asyncpg", ""),
        JWT_ACCESS_SECRET="fleet-access-" + "a" * 32,
        JWT_REFRESH_SECRET="fleet-refresh-" + "b" * 32,
        SYNCD_SEED_ADMIN_EMAIL=ADMIN,
        SYNCD_SEED_ADMIN_PASSWORD=PASSWORD,
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="warning",
    )
    for command in (["migrate"], ["seed"]):
        subprocess.run(
            [*SYNCD, *command], cwd=workdir, env=env, check=True, capture_output=True, timeout=60
        )
    return env
