"""schemathesis against a live `syncd up`, with every check, on SQLite and PostgreSQL.

No 5xx, every answer matches the document, no schema-violating request is
accepted, wrong methods are 405 with a true `Allow`, and so on: `--checks all`,
tuned by tests/e2e/web/schemathesis.toml (which says, per check, what it relaxes
and why). A bounded run (a fixed seed, MAX_EXAMPLES per operation, no
stateful phase; about two and a half minutes per database on an idle
machine) as the seeded demo admin. /auth/logout would end the run's own session and /sync/ws is a
WebSocket: both are left out. On failure the assertion shows schemathesis's
report, with a curl line to reproduce each finding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import SYNCD, clean_env, free_port, wait_ready

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "admin@demo.example"
ADMIN_PASSWORD = "a-long-seed-password"
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    database = {}
    if request.param == "postgresql":
        database["DATABASE_URL"] = request.getfixturevalue("fresh_pg_database")()
    port = free_port()
    process = subprocess.Popen(
        [*SYNCD, "up", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(
            SYNCD_SEED_ADMIN_EMAIL=ADMIN_EMAIL,
            SYNCD_SEED_ADMIN_PASSWORD=ADMIN_PASSWORD,
            **database,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/health/ready", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def access_token(base: str) -> str:
    request = urllib.request.Request(  # noqa: S310 (a local test server)
        base + "/auth/login",
        data=json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode(),
        headers={"Content-Type": "application/json", "X-Tenant": "demo"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.loads(response.read())["access_token"]
    return token


def test_no_server_errors_and_answers_match_the_document(server: str, tmp_path: Path) -> None:
    token = access_token(server)
    result = subprocess.run(
        [
            *SCHEMATHESIS,
            "--config-file",
            str(CONFIG),
            "run",
            server + "/openapi.json",
            "--url",
            server,
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--exclude-path",
            "/auth/logout",
            "--exclude-path",
            "/sync/ws",
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            "X-Tenant: demo",
            "--no-color",
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=900,  # a loaded CI machine: about 2.5 minutes alone
        check=False,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout, report
    # The session survived the run: the protected routes saw a valid token to the end.
    me = urllib.request.Request(  # noqa: S310 (a local test server)
        server + "/auth/me", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(me, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
