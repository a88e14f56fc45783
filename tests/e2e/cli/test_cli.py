"""The `syncd` command as a user runs it: real processes, real sockets."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import SYNCD, clean_env, free_port, get, wait_ready

pytestmark = pytest.mark.e2e


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [*SYNCD, "up", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/health/ready", process)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_up_serves_on_embedded_defaults(
    quickstart: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = quickstart
    status, _, body = get(base + "/health/ready")
    assert (status, body["checks"]) == (200, {"database": "ok"})
    status, headers, problem = get(base + "/no/such/route")
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["code"] == "not_found"
    assert problem["request_id"] == headers["X-Request-ID"]
    assert (tmp_path / "var" / "syncd.db").exists()
    assert (tmp_path / "var" / "secrets.json").exists()
    process.terminate()
    out, err = process.communicate(timeout=20)
    assert "created admin admin@demo.example" in out
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("path") == "/no/such/route" and e.get("status") == 404 for e in access)


def test_production_without_secrets_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SYNCD, "serve"],
        cwd=tmp_path,
        env=clean_env(SYNCD_ENV="production"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "syncd: invalid setting JWT_ACCESS_SECRET: is required when SYNCD_ENV=production"
    ]
    assert "Traceback" not in result.stderr


def test_bad_port_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SYNCD, "migrate"],
        cwd=tmp_path,
        env=clean_env(SYNCD_PORT="eighty"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("syncd: invalid setting SYNCD_PORT: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_migrate_seed_routes_twice(tmp_path: Path) -> None:
    env = clean_env(
        SYNCD_SEED_ADMIN_EMAIL="ops@demo.example", SYNCD_SEED_ADMIN_PASSWORD="a-long-seed-password"
    )
    for command in (["migrate"], ["seed"], ["migrate"], ["seed"], ["routes"]):
        result = subprocess.run(
            [*SYNCD, *command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert "/health/ready" in result.stdout
    second_seed = subprocess.run(
        [*SYNCD, "seed"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "nothing changed" in second_seed.stdout
