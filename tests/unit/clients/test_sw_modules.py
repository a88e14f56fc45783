"""The example's service worker caches every SDK module the page loads.

Offline, the technician's page reloads from the service worker's cache
(clients/typescript/examples/sw.js, `MODULES`); a module the SDK imports at run
time but the list forgets makes the reload fail (tests/e2e/clients/
test_typescript_browser.py shows it in Chromium). This follows the SDK's own
imports from `src/index.ts`, leaving out type-only ones (erased from the
JavaScript), and checks the list names each.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SDK = Path(__file__).parents[3] / "clients" / "typescript"
IMPORT = re.compile(
    r'^(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?"\./([\w-]+)\.js";', re.M | re.S
)


def runtime_imports(module: str) -> set[str]:
    source = (SDK / "src" / f"{module}.ts").read_text()
    return {name for type_only, name in IMPORT.findall(source) if not type_only}


def loaded_from(root: str) -> set[str]:
    seen, todo = {root}, [root]
    while todo:
        for name in runtime_imports(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def cached_modules() -> set[str]:
    worker = (SDK / "examples" / "sw.js").read_text()
    match = re.search(r"const MODULES = (\[[^\]]*\]);", worker)
    assert match is not None, "sw.js lists its MODULES"
    return set(json.loads(match.group(1)))


def test_the_service_worker_caches_every_module_the_page_loads() -> None:
    loaded = loaded_from("index")
    assert {"index", "api", "client", "engine"} <= loaded  # the walk follows imports
    assert loaded <= cached_modules(), sorted(loaded - cached_modules())


def test_type_only_imports_are_not_followed() -> None:
    assert "schema" not in loaded_from("index")  # `import type ... from "./schema.js"`
