"""The TypeScript SDK (`clients/typescript`, `@syncd/client`) against a real `syncd serve`.

Per backend (SQLite and PostgreSQL) one server is started and node's test
runner runs the SDK's tests (`clients/typescript/test/*.test.mjs`) against
it: a technician offline, restarted, back online and converged with the
admin's view (records, actions with geo, a purchase, a photo through the
media queue); a conflict between two clients resolved by an admin; an
unassignment that empties the technician's replica; rejections; live sync
over /sync/ws. The dependencies come from the lock file (`npm ci`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ts_sdk import SDK_DIR, Served, node_env, sdk_node, serve, server_environment

pytestmark = pytest.mark.e2e
NODE_TESTS_TIMEOUT_S = 240


@pytest.fixture(params=["sqlite", "postgresql"])
def sdk_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'syncd.db'}"
    else:
        url = request.getfixturevalue("fresh_pg_database")()
    running = serve(server_environment(url, tmp_path), tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_the_sdk_node_tests_pass_against_a_real_server(sdk_server: Served) -> None:
    node = sdk_node()
    tests = sorted(str(p) for p in (SDK_DIR / "test").glob("*.test.mjs"))
    assert tests, "no SDK tests found"
    result = subprocess.run(
        [node, "--test", "--test-concurrency=1", "--test-force-exit", *tests],
        cwd=SDK_DIR,
        env=node_env(sdk_server.url),
        capture_output=True,
        text=True,
        timeout=NODE_TESTS_TIMEOUT_S,
        check=False,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "# fail 0" in result.stdout
