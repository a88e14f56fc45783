"""The whole test command: `python -m tests` (see README's Quickstart).

Runs, in order, and reports each: the layer contracts (import-linter), ruff
lint and format check, mypy, then pytest with coverage of the packages. Every
step runs even if an earlier one failed; the exit code is non-zero if any
failed. pytest's "no tests collected" (exit 5) counts as a failure.

pytest runs on one worker process per core (pytest-xdist; `SYNCD_TEST_WORKERS`
overrides the count, `0` runs in this process): most tests wait on servers,
databases and browsers, so the cores are seldom both busy with one worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PY = sys.executable
WORKERS = os.environ.get("SYNCD_TEST_WORKERS", "auto")

STEPS: list[tuple[str, list[str]]] = [
    ("layers (import-linter)", [str(BIN / "lint-imports"), "--config", "setup.cfg"]),
    ("ruff lint", [PY, "-m", "ruff", "check", "."]),
    ("ruff format", [PY, "-m", "ruff", "format", "--check", "."]),
    ("mypy", [PY, "-m", "mypy"]),
    (
        "pytest",
        [
            PY,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--cov",
            "--cov-report=term",
            "--cov-fail-under=85",
            "--numprocesses",
            WORKERS,
            *sys.argv[1:],
        ],
    ),
]


def main() -> int:
    results: list[tuple[str, int, float]] = []
    for name, command in STEPS:
        print(f"\n=== {name}: {' '.join(command[1:] if command[0] == PY else command)}", flush=True)
        started = time.monotonic()
        code = subprocess.call(command, cwd=ROOT)
        results.append((name, code, time.monotonic() - started))
    print("\n=== summary")
    for name, code, seconds in results:
        print(f"{'ok  ' if code == 0 else 'FAIL'} {name} ({seconds:.1f}s, exit {code})")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
