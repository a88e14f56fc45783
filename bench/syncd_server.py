"""A throwaway syncd for the benchmarks that need a real server process.

`fresh_database` creates a PostgreSQL database and drops it at exit;
`prepare` runs `syncd migrate` and `syncd seed` on it (tenant `demo` and its
admin); `serving` runs `syncd serve` as a child process until the block ends.
Everything runs as the CLI runs it, with the environment a deployment would
give it, so the figures are those of the shipped server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
SYNCD = [sys.executable, "-m", "syncd.cli"]
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_EMAIL = "admin@demo.example"
PASSWORD = "bench-password-123"  # noqa: S105  (a throwaway benchmark account)
TENANT = "demo"


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a syncd on `database_url` (nothing inherited from SYNCD_*)."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SYNCD_", "JWT_", "DATABASE", "REDIS"))
    }
    return {
        **keep,
        "DATABASE_URL": database_url,
        "JWT_ACCESS_SECRET": "bench-access-" + "a" * 32,
        "JWT_REFRESH_SECRET": "bench-refresh-" + "b" * 32,
        "SYNCD_SEED_ADMIN_EMAIL": ADMIN_EMAIL,
        "SYNCD_SEED_ADMIN_PASSWORD": PASSWORD,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@contextlib.asynccontextmanager
async def fresh_database(dsn: str = DEFAULT_DSN) -> AsyncIterator[str]:
    """A new, empty database on the server of `dsn`; answers its URL, drops it at exit."""
    name = f"syncd_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def run_cli(env: dict[str, str], cwd: Path, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *SYNCD,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"syncd {' '.join(args)} failed:\n{output.decode()[-2000:]}")


async def prepare(env: dict[str, str], cwd: Path) -> None:
    """`syncd migrate` then `syncd seed`: tenant `demo` with its admin."""
    await run_cli(env, cwd, "migrate")
    await run_cli(env, cwd, "seed")


@dataclass
class Serving:
    """A running `syncd serve` and how to reach it."""

    process: asyncio.subprocess.Process
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident set size of the server process (VmRSS in /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def wait_ready(http: aiohttp.ClientSession, serving: Serving, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if serving.process.returncode is not None:
            raise RuntimeError(f"syncd serve exited early with {serving.process.returncode}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with http.get(f"{serving.base}/health/ready") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)  # not listening yet: poll again
    raise RuntimeError("syncd serve never became ready")


@contextlib.asynccontextmanager
async def serving(
    env: dict[str, str], cwd: Path, profile: Path | None = None
) -> AsyncIterator[Serving]:
    """`syncd serve` on a free port until the block ends (SIGTERM, then SIGKILL).

    With `profile`, the server runs under cProfile and writes its stats there
    when it stops (the CPU figures are then those of a profiled server).
    """
    port = free_port()
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    log = (cwd / f"serve-{port}.log").open("wb")  # warnings and errors (LOG_LEVEL)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *profiler,
        *SYNCD[1:],
        "serve",
        "--port",
        str(port),
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=log,
    )
    running = Serving(process, port, cwd / f"serve-{port}.log")
    try:
        async with aiohttp.ClientSession() as http:
            await wait_ready(http, running)
        yield running
    finally:
        await stop(process)
        log.close()


async def stop(process: asyncio.subprocess.Process, grace_s: float = 20) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            process.kill()
            await process.wait()


async def sign_in(http: aiohttp.ClientSession, base: str) -> str:
    """An access token of the demo admin."""
    async with http.post(
        f"{base}/auth/login",
        json={"email": ADMIN_EMAIL, "password": PASSWORD},
        headers={"X-Tenant": TENANT},
    ) as response:
        body: dict[str, Any] = await response.json()
        if response.status != 200:
            raise RuntimeError(f"login failed: {body}")
        token: str = body["access_token"]
        return token


def task_change(title: str, *, client: str = "bench") -> dict[str, Any]:
    """One task upsert as a device would push it."""
    return {
        "entity": "task",
        "id": str(uuid.uuid4()),
        "op": "upsert",
        "fields": {"title": title},
        "hlc": f"{int(time.time() * 1000):013d}:0000:{client}",
        "base_version": 0,
    }
