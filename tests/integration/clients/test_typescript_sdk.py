"""clients/typescript agrees with the app: the committed spec and the types generated from it.

`clients/typescript/openapi.json` is exactly the document `syncd openapi`
prints for the app as built now, and `src/schema.d.ts` is exactly what the
pinned openapi-typescript generates from it. A route added, removed or
described differently without regenerating fails here with the command to run.
Without node/npm the second check skips, unless SYNCD_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncd.app import create_app
from syncd.openapi.document import build_document
from tests.support.npm_install import npm_ci_once
from tests.support.services import make_settings

CLIENT_DIR = Path(__file__).resolve().parents[3] / "clients" / "typescript"
SPEC = CLIENT_DIR / "openapi.json"
SCHEMA = CLIENT_DIR / "src" / "schema.d.ts"
GENERATOR = CLIENT_DIR / "node_modules" / ".bin" / "openapi-typescript"
REGENERATE = (
    "syncd openapi > clients/typescript/openapi.json"
    " && (cd clients/typescript && npm ci && npm run generate)"
)
NPM_CI_TIMEOUT_S = 900  # better-sqlite3 (the SDK's node driver) compiles from source
GENERATE_TIMEOUT_S = 60
MAX_DIFF_LINES = 60


def short_diff(found: str, expected: str, found_name: str, expected_name: str) -> str:
    lines = list(
        difflib.unified_diff(
            found.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            found_name,
            expected_name,
        )
    )
    more = len(lines) - MAX_DIFF_LINES
    return "".join(lines[:MAX_DIFF_LINES]) + (f"... {more} more diff lines\n" if more > 0 else "")


def node_missing(reason: str) -> None:
    message = f"node/npm is not available ({reason})"
    if os.environ.get("SYNCD_REQUIRE_SERVICES") == "1":
        pytest.fail(message + "; SYNCD_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def installed_generator_is_pinned() -> bool:
    """node_modules holds the openapi-typescript version package.json pins (not a stale one)."""
    pinned = json.loads((CLIENT_DIR / "package.json").read_text(encoding="utf-8"))
    installed = CLIENT_DIR / "node_modules" / "openapi-typescript" / "package.json"
    if not GENERATOR.exists() or not installed.exists():
        return False
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    return bool(version == pinned["devDependencies"]["openapi-typescript"])


@pytest.fixture(scope="session")
def openapi_typescript() -> Path:
    """The pinned generator, installed with `npm ci` from package-lock.json if need be."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        node_missing(f"{', '.join(missing)} not on PATH")
    npm_ci_once("npm", CLIENT_DIR, installed_generator_is_pinned, NPM_CI_TIMEOUT_S)
    assert installed_generator_is_pinned(), "npm ci did not install the pinned openapi-typescript"
    return GENERATOR


def test_committed_spec_is_the_document_the_app_generates(tmp_path: Path) -> None:
    expected: Any = build_document(create_app(make_settings(tmp_path)))
    committed: Any = json.loads(SPEC.read_text(encoding="utf-8"))
    if committed != expected:
        diff = short_diff(
            json.dumps(committed, indent=2, ensure_ascii=False, sort_keys=True),
            json.dumps(expected, indent=2, ensure_ascii=False, sort_keys=True),
            "clients/typescript/openapi.json",
            "the app",
        )
        pytest.fail(
            f"clients/typescript/openapi.json is out of date; regenerate it with `{REGENERATE}`\n"
            + diff
        )


def test_committed_types_are_what_openapi_typescript_generates(
    openapi_typescript: Path, tmp_path: Path
) -> None:
    output = tmp_path / "schema.d.ts"
    result = subprocess.run(
        [str(openapi_typescript), "./openapi.json", "-o", str(output)],
        cwd=CLIENT_DIR,
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"openapi-typescript failed:\n{result.stdout}{result.stderr}"
    generated = output.read_bytes()
    committed = SCHEMA.read_bytes()
    if committed != generated:
        diff = short_diff(
            committed.decode("utf-8", "replace"),
            generated.decode("utf-8", "replace"),
            "clients/typescript/src/schema.d.ts",
            "openapi-typescript ./openapi.json",
        )
        pytest.fail(
            "clients/typescript/src/schema.d.ts is out of date; "
            f"regenerate it with `{REGENERATE}`\n" + diff
        )
