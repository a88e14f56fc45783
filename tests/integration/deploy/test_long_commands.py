"""Long commands say what they do.

`syncd up` (a real process) says each step before it starts it (the schema,
the seed, where it serves) on stdout while its logs, JSON from the first
line, go to stderr; it is stopped with SIGTERM once serving. `syncd-client
simulate` says each phase of its run. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncd_client import cli
from tests.support.factories import PASSWORD, signed_in

WAIT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_syncd_up_says_its_steps_and_logs_json(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SYNCD_ENV": "test",
        "SYNCD_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url,
        "JWT_ACCESS_SECRET": "test-access-secret-" + "a" * 32,
        "JWT_REFRESH_SECRET": "test-refresh-secret-" + "b" * 32,
        "SYNCD_SEED_ADMIN_PASSWORD": "a-strong-password-1",
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "info",
    }
    env.pop("REDIS_URL", None)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "syncd"),  # the installed command
        "up",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    said: list[str] = []
    try:
        while not any("step 3 of 3" in line for line in said):
            line = await asyncio.wait_for(process.stdout.readline(), WAIT)
            assert line, "syncd up stopped before serving"
            said.append(line.decode().strip())
        logs: list[dict[str, Any]] = []
        while not any(entry.get("event") == "serving" for entry in logs):
            line = await asyncio.wait_for(process.stderr.readline(), WAIT)
            assert line, "syncd up stopped before serving"
            logs.append(json.loads(line))  # every line JSON, the first one too
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), WAIT)
    steps = [line for line in said if line.startswith("syncd up: step")]
    assert [line.split(":")[1].strip() for line in steps] == [
        "step 1 of 3",
        "step 2 of 3",
        "step 3 of 3",
    ]
    assert "latest schema" in steps[0]
    secret = make_url(database_url).password
    assert secret is None or str(secret) not in steps[0]  # a password is never shown
    assert steps[2].endswith(f"serving on http://127.0.0.1:{port}")
    serving = next(entry for entry in logs if entry["event"] == "serving")
    assert serving["url"] == f"http://127.0.0.1:{port}"


async def test_simulate_says_each_phase(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    admin = await signed_in(client, sessions)
    argv = ["simulate", "--url", str(client.make_url("/")), "--tenant", admin.tenant.slug]
    argv += ["--email", admin.email, "--password", PASSWORD, "--devices", "2"]
    argv += ["--minutes", "0.02", "--seed", "5"]
    said: list[str] = []
    figures = await cli.simulate(cli.parser().parse_args(argv), tmp_path, said.append)
    assert figures["divergent"] == 0
    phases = [
        "signing in as",
        "opening 2 devices",
        "working for 1.2 s",
        "bringing every device online",
        "checking every replica",
        "done in",
    ]
    assert [next(i for i, line in enumerate(said) if line.startswith(p)) for p in phases] == sorted(
        next(i for i, line in enumerate(said) if line.startswith(p)) for p in phases
    )
