"""Real `syncd` processes for the end-to-end tests: a free port, a clean
environment, waiting until a server answers, and one started on a seeded
PostgreSQL database (the `server_env` fixture, offered by tests/e2e/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

SYNCD = [sys.executable, "-m", "syncd.cli"]
PASSWORD = "crash-test-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "JWT_", "DATABASE"))}
    keep.pop("REDIS_URL", None)
    keep.update(extra)
    return keep


def get(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            if get(url)[0] == 200:
                return
        time.sleep(0.2)  # not listening yet: poll again
    raise AssertionError("server never became ready")


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


def worker_env(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """The test settings (make_settings) as a process environment."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "JWT_", "S3_"))}
    keep.pop("REDIS_URL", None)
    keep.pop("DATABASE_URL", None)
    return {
        **keep,
        "SYNCD_ENV": "test",
        "SYNCD_VAR_DIR": str(tmp_path / "var"),
        "JWT_ACCESS_SECRET": "test-access-secret-" + "a" * 32,
        "JWT_REFRESH_SECRET": "test-refresh-secret-" + "b" * 32,
        "LOG_LEVEL": "warning",
        **env,
    }
