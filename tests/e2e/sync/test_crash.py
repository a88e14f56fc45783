"""No acknowledged write is lost (PROTOCOL.md guarantee 1).

A real `syncd serve` on PostgreSQL takes pushes from several concurrent
writers and is killed with SIGKILL in the middle of the run. After a restart,
every change whose push had been answered is there when pulled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.cli.test_cli import clean_env, free_port, wait_ready

pytestmark = pytest.mark.e2e
SYNCD = [sys.executable, "-m", "syncd.cli"]
PASSWORD = "crash-test-password-1"


def start(env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*SYNCD, "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
    return process


@pytest.fixture
def server_env(fresh_pg_database: Any, tmp_path: Path) -> dict[str, str]:
    """Environment of a syncd on a fresh, migrated and seeded PostgreSQL database."""
    url: str = fresh_pg_database()
    env = clean_env(
        DATABASE_URL=url.replace("+asyncpg", ""),
        JWT_ACCESS_SECRET="crash-access-" + "a" * 32,
        JWT_REFRESH_SECRET="crash-refresh-" + "b" * 32,
        SYNCD_SEED_ADMIN_EMAIL="admin@demo.example",
        SYNCD_SEED_ADMIN_PASSWORD=PASSWORD,
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="warning",
    )
    for command in (["migrate"], ["seed"]):
        subprocess.run(
            [*SYNCD, *command], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60
        )
    return env


async def test_kill_9_loses_no_acknowledged_push(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = server_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(env, port, tmp_path)
    acknowledged: set[str] = set()
    async with aiohttp.ClientSession(base) as http:
        login = await http.post(
            "/auth/login",
            json={"email": "admin@demo.example", "password": PASSWORD},
            headers={"X-Tenant": "demo"},
        )
        token = (await login.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def writer(index: int) -> None:
            for batch in range(1000):
                ids = [str(uuid.uuid4()) for _ in range(10)]
                body = {
                    "client_id": f"w{index}",
                    "batch_id": f"{index}-{batch}",
                    "changes": [
                        {
                            "entity": "task",
                            "id": row_id,
                            "op": "upsert",
                            "fields": {"title": "t"},
                            "hlc": f"{1764000000000 + batch:013d}:0000:w{index}",
                            "base_version": 0,
                        }
                        for row_id in ids
                    ],
                }
                try:
                    response = await http.post("/sync/push", json=body, headers=headers)
                    answer = await response.json()
                except (TimeoutError, aiohttp.ClientError):
                    return  # the server died under us: this batch was never answered
                assert response.status == 200, answer
                assert all(r["status"] == "applied" for r in answer["results"])
                acknowledged.update(ids)
                if len(acknowledged) >= 300:
                    enough.set()

        enough = asyncio.Event()
        writers = [asyncio.create_task(writer(i)) for i in range(4)]
        await asyncio.wait_for(enough.wait(), timeout=60)
        os.kill(server.pid, signal.SIGKILL)
        await asyncio.gather(*writers)
        server.wait(timeout=10)
        assert server.returncode == -signal.SIGKILL
        server = start(env, port, tmp_path)
        try:
            seen: set[str] = set()
            cursor = None
            while True:
                params = {"limit": "1000"} | ({"since": cursor} if cursor else {})
                page = await (await http.get("/sync/pull", params=params, headers=headers)).json()
                seen.update(c["id"] for c in page["changes"])
                cursor = page["cursor"]
                if not page["has_more"]:
                    break
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"acknowledged {len(acknowledged)}, present after restart {len(seen)}")
    assert acknowledged
    assert acknowledged <= seen
