"""Two `syncd serve` processes over one PostgreSQL and one Redis act as one server.

A device on process A sees, live, a change pushed to process B; then A is
killed with SIGKILL and the device reconnects to B from its last cursor: no
gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.processes import PASSWORD, free_port, start

pytestmark = pytest.mark.e2e


async def frames_until(ws: Any, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(ws.receive(), 15)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        seen.append(frame)
        if frame["type"] == kind:
            return frame


async def test_live_change_crosses_processes_and_resumes_after_a_kill(
    server_env: dict[str, str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {**server_env, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix}
    port_a, port_b = free_port(), free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    server_a = start(env, port_a, tmp_path / "a")
    server_b = start(env, port_b, tmp_path / "b")
    try:
        async with aiohttp.ClientSession() as http:
            login = await http.post(
                f"http://127.0.0.1:{port_b}/auth/login",
                json={"email": "admin@demo.example", "password": PASSWORD},
                headers={"X-Tenant": "demo"},
            )
            token = (await login.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            async def push_to_b(title: str) -> str:
                task_id = str(uuid.uuid4())
                body = {
                    "client_id": "dash",
                    "batch_id": uuid.uuid4().hex,
                    "changes": [
                        {
                            "entity": "task",
                            "id": task_id,
                            "op": "upsert",
                            "fields": {"title": title},
                            "hlc": f"{1764000000000:013d}:0000:dash",
                            "base_version": 0,
                        }
                    ],
                }
                response = await http.post(
                    f"http://127.0.0.1:{port_b}/sync/push", json=body, headers=headers
                )
                assert response.status == 200, await response.text()
                return task_id

            seen: list[dict[str, Any]] = []
            ws = await http.ws_connect(
                f"ws://127.0.0.1:{port_a}/sync/ws", protocols=("syncd.v1", f"bearer.{token}")
            )
            await ws.send_json({"type": "hello", "client_id": "phone", "cursor": None})
            await frames_until(ws, "caught_up", seen)
            first = await push_to_b("pushed to B, seen live on A")
            live = await frames_until(ws, "changes", seen)
            assert [c["id"] for c in live["changes"] if c["entity"] == "task"] == [first]
            cursor = live["cursor"]
            os.kill(server_a.pid, signal.SIGKILL)
            server_a.wait(timeout=10)
            second = await push_to_b("pushed while the device was cut off")
            ws_b = await http.ws_connect(
                f"ws://127.0.0.1:{port_b}/sync/ws", protocols=("syncd.v1", f"bearer.{token}")
            )
            await ws_b.send_json({"type": "hello", "client_id": "phone", "cursor": cursor})
            await frames_until(ws_b, "caught_up", seen)
            third = await push_to_b("live on B")
            await frames_until(ws_b, "changes", seen)
            await ws_b.close()
        delivered = [c for f in seen if f["type"] == "changes" for c in f["changes"]]
        versions = [c["version"] for c in delivered]
        tasks = [c["id"] for c in delivered if c["entity"] == "task"]
        assert tasks == [first, second, third]
        # Each with its "created" timeline entry, and nothing twice.
        assert len(delivered) == 6
        assert versions == sorted(set(versions))
    finally:
        for server in (server_a, server_b):
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=20)
