"""docs/console.md's screenshots can be made again: the script runs, on both databases.

`scripts/console_screenshots.py` seeds a fresh server and photographs every
page; here it writes into a temporary folder, and docs/console.md must show
each picture it makes (and the committed ones must exist).
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import clean_env
from tests.support.services import BACKENDS, service_missing

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "console_screenshots.py"
PNG = b"\x89PNG\r\n\x1a\n"
PAGES = ("login", "inbox", "conflict", "devices", "rejections", "jobs", "audit", "tasks")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_screenshots_are_regenerated_from_a_seeded_server(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not Path("/usr/bin/chromium").exists():
        service_missing("Chromium", "not at /usr/bin/chromium; apt-get install -y chromium")
    command = [sys.executable, str(SCRIPT), "--out", str(tmp_path)]
    if backend == "postgresql":
        fresh: Callable[[], str] = request.getfixturevalue("fresh_pg_database")
        command += ["--database-url", fresh()]
    made = subprocess.run(
        command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=240
    )
    assert made.returncode == 0, made.stderr[-3000:]
    pictures = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pictures] == sorted(f"{name}.png" for name in (*PAGES, "inbox-ar"))
    for picture in pictures:
        data = picture.read_bytes()
        assert data.startswith(PNG), picture
        width, height = struct.unpack(">II", data[16:24])
        assert width == 1280, picture
        assert height >= 600, picture
        assert len(data) > 20_000, f"{picture} is nearly blank"
    page = (ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\]\(console/([\w-]+\.png)\)", page))
    assert shown == {p.name for p in pictures}
    assert all((ROOT / "docs" / "console" / name).exists() for name in shown)
