"""Running the TypeScript SDK's node tests against a real syncd (shared by the e2e tests).

`sdk_node()` makes sure `clients/typescript/node_modules` matches the lock file
(`npm ci` when it is absent or older than `package-lock.json`) and that
`dist/` is built (`npm run build`); `serve()` starts a migrated, seeded
`syncd serve` on SQLite or PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.npm_install import npm_ci_once
from tests.support.processes import PASSWORD, SYNCD, clean_env, free_port, start
from tests.support.services import service_missing

SDK_DIR = Path(__file__).resolve().parents[2] / "clients" / "typescript"
NPM_CI_TIMEOUT_S = 900  # better-sqlite3 compiles from source where no prebuilt binary is reachable
BUILD_TIMEOUT_S = 600
SETUP_TIMEOUT_S = 300  # migrate and seed, on a loaded machine


def _stale(marker: Path, *sources: Path) -> bool:
    return not marker.exists() or any(s.stat().st_mtime > marker.stat().st_mtime for s in sources)


def sdk_node() -> str:
    """The node binary, with the SDK's locked dependencies installed and the SDK built."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        service_missing("node and npm", "not on PATH")
    assert node is not None
    assert npm is not None
    installed = SDK_DIR / "node_modules" / ".package-lock.json"

    def ready() -> bool:
        native = SDK_DIR / "node_modules" / "better-sqlite3" / "build" / "Release"
        return not _stale(installed, SDK_DIR / "package-lock.json") and native.is_dir()

    npm_ci_once(npm, SDK_DIR, ready, NPM_CI_TIMEOUT_S)
    built = SDK_DIR / "dist" / "index.js"
    sources = [*(SDK_DIR / "src").glob("*.ts"), SDK_DIR / "package.json"]
    if not _stale(built, *sources):
        return node
    with (SDK_DIR / ".npm-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers share dist/
        try:
            if _stale(built, *sources):
                result = subprocess.run(
                    [npm, "run", "build"],
                    cwd=SDK_DIR,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT_S,
                    check=False,
                )
                assert result.returncode == 0, result.stdout + result.stderr
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return node


@dataclass
class Served:
    env: dict[str, str]
    cwd: Path
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart(self) -> None:
        self.process = start(self.env, self.port, self.cwd)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def server_environment(database_url: str, cwd: Path) -> dict[str, str]:
    """Migrate and seed `database_url`; answers the environment of its server."""
    env = clean_env(
        DATABASE_URL=database_url.replace("+asyncpg", "").replace("+aiosqlite", ""),
        JWT_ACCESS_SECRET="sdk-access-" + "a" * 32,
        JWT_REFRESH_SECRET="sdk-refresh-" + "b" * 32,
        SYNCD_SEED_ADMIN_EMAIL="admin@demo.example",
        SYNCD_SEED_ADMIN_PASSWORD=PASSWORD,
        SYNCD_VAR_DIR=str(cwd / "var"),
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="warning",
    )
    for command in (["migrate"], ["seed"]):
        subprocess.run(
            [*SYNCD, *command],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            timeout=SETUP_TIMEOUT_S,
        )
    return env


def serve(env: dict[str, str], cwd: Path) -> Served:
    port = free_port()
    return Served(env, cwd, port, start(env, port, cwd))


def node_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SYNCD_URL": url,
        "SYNCD_TENANT": "demo",
        "SYNCD_ADMIN_EMAIL": "admin@demo.example",
        "SYNCD_ADMIN_PASSWORD": PASSWORD,
    }
