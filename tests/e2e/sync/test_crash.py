"""No acknowledged write is lost (PROTOCOL.md guarantee 1).

A real `syncd serve` on PostgreSQL takes pushes from several concurrent
writers and is killed with SIGKILL in the middle of the run. After a restart,
every change whose push had been answered is there when pulled.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import PASSWORD, free_port, start

pytestmark = pytest.mark.e2e


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
