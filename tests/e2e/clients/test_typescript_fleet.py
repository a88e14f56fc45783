"""The flaky-network run of the TypeScript SDK: 5 node clients, a fault proxy, one SIGKILL.

A real `syncd serve` on PostgreSQL behind `tests/support/faultproxy.py` (cut
requests, cut answers, delays, cut WebSockets). `clients/typescript/scripts/fleet.mjs`
runs five technician clients over better-sqlite3 replicas (half syncing by
HTTP, half live over /sync/ws); when half their writes are in, the server is
killed with SIGKILL and restarted. At the end every client has drained its
outbox and its replica equals the admin's view: the script prints one line,
`0 divergent, 0 lost, 0 duplicated, 0 stuck`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faultproxy import FaultProxy, Faults
from tests.support.ts_sdk import SDK_DIR, Served, node_env, sdk_node, serve, server_environment

pytestmark = pytest.mark.e2e
RUN_TIMEOUT_S = 240
FAULTS = Faults(drop_request=0.04, drop_response=0.04, delay=0.1, ws_cut=0.5, ws_max_life_s=3.0)


@pytest.fixture
def pg_server(fresh_pg_database: Any, tmp_path: Path) -> Iterator[Served]:
    url: str = fresh_pg_database()
    running = serve(server_environment(url, tmp_path), tmp_path)
    try:
        yield running
    finally:
        running.stop()


async def test_five_clients_on_a_flaky_link_through_a_sigkill_converge(pg_server: Served) -> None:
    node = sdk_node()
    server = pg_server
    async with FaultProxy(server.port, FAULTS, seed=18) as proxy:
        env = {**node_env(server.url), "SYNCD_PROXY_URL": f"http://127.0.0.1:{proxy.port}"}
        fleet = await asyncio.create_subprocess_exec(
            node,
            str(SDK_DIR / "scripts" / "fleet.mjs"),
            cwd=SDK_DIR,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert fleet.stdin is not None
        assert fleet.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(RUN_TIMEOUT_S):
            while line := (await fleet.stdout.readline()).decode():
                lines.append(line.strip())
                if line.strip() == "half":
                    await asyncio.to_thread(server.kill)
                    await asyncio.to_thread(server.restart)
                    fleet.stdin.write(b"restarted\n")
                    await fleet.stdin.drain()
            _, stderr = await fleet.communicate()
        assert fleet.returncode == 0, (lines, stderr.decode()[-4000:])
        verdict = json.loads(lines[-1])
        print(
            f"{verdict['clients']} clients, {verdict['records']} records, "
            f"{proxy.injected} faults, 1 SIGKILL: {verdict['divergent']} divergent, "
            f"{verdict['lost']} lost, {verdict['duplicated']} duplicated, "
            f"{verdict['stuck']} stuck"
        )
        assert "half" in lines
        assert verdict["clients"] >= 5
        assert proxy.injected > 0
        assert (
            verdict["divergent"],
            verdict["lost"],
            verdict["duplicated"],
            verdict["stuck"],
        ) == (0, 0, 0, 0), verdict["details"]
