"""The API docs as people meet them: a real `syncd serve`, /docs rendered by headless
Chromium, and `syncd openapi` printing the document the server serves.

Chromium comes from Debian (`apt-get install -y chromium`; .ci/run installs it).
Without it the browser test skips, unless SYNCD_REQUIRE_SERVICES=1, where it fails.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import SYNCD, clean_env, free_port, wait_ready
from tests.support.services import service_missing

pytestmark = pytest.mark.e2e

WINDOW = (1280, 1600)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        service_missing("Chromium", "not on PATH; apt-get install -y chromium")
    assert found is not None
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = clean_env()
    subprocess.run([*SYNCD, "migrate"], cwd=tmp_path, env=env, check=True, timeout=60)
    port = free_port()
    process = subprocess.Popen(
        [*SYNCD, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
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


def headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_swagger_ui_renders_the_operations(chromium: str, server: str, tmp_path: Path) -> None:
    rendered = headless(chromium, tmp_path / "profile-dom", "--dump-dom", server + "/docs")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    dom = rendered.stdout
    assert "opblock" in dom, dom[:2000]
    for expected in ("/sync/push", "/auth/login", "Push a batch of changes", "OAS 3.1"):
        assert expected in dom, expected
    assert "Failed to load API definition" not in dom

    shot = tmp_path / "docs.png"
    taken = headless(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", server + "/docs")
    assert taken.returncode == 0, taken.stderr[-2000:]
    png = shot.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == WINDOW
    assert len(png) > 50_000, "the screenshot is nearly blank"


def test_openapi_command_prints_the_served_document(server: str, tmp_path: Path) -> None:
    printed = subprocess.run(
        [*SYNCD, "openapi"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    with urllib.request.urlopen(server + "/openapi.json", timeout=10) as response:  # noqa: S310
        served = json.loads(response.read())
    assert json.loads(printed.stdout) == served
