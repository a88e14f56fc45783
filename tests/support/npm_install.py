"""`npm ci` in a folder of the repository, once, even with several test workers.

The test run may be split across processes (pytest-xdist); two of them running
`npm ci` in one folder at once would delete each other's node_modules. A lock
file beside package.json makes the second wait, then find the packages ready.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def npm_ci_once(
    npm: str, directory: Path, ready: Callable[[], bool], timeout_s: float = 300
) -> None:
    """Run `npm ci` in `directory` unless `ready()` says the packages are there."""
    if ready():
        return
    with (directory / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if ready():  # another worker installed them while this one waited
                return
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=directory,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"`npm ci` in {directory} failed:\n{exc.stderr}", pytrace=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {directory} took over {timeout_s} s", pytrace=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
