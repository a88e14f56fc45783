"""The test tree's own rules (#22): no test module imports another, and each sits
in one folder of its kind that mirrors the code.

Helpers shared between tests live in tests/support (factories, services, ...);
a test module (test_*.py) or a conftest.py is never imported by anything under
tests/: pytest loads those itself, and a test imported elsewhere is collected
twice or drags its fixtures along. Imports are read with ast, not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
KINDS = ("unit", "integration", "e2e")


def is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def package_of(path: Path, root: Path) -> list[str]:
    return [root.name, *path.relative_to(root).parent.parts]


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute names), with its line: for
    `from a.b import c` both `a.b` and `a.b.c`, since `c` may be a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = package_of(path, root)
                up = package[: len(package) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def imports_of_test_modules(root: Path) -> list[str]:
    """Where a module under `root` imports a test module or a conftest."""
    return [
        f"{path.relative_to(root.parent)}:{line} imports {name}"
        for path in sorted(root.rglob("*.py"))
        if "node_modules" not in path.parts
        for line, name in imported_modules(path, root)
        if name.split(".", 1)[0] == root.name and is_test_module(name)
    ]


def misplaced_test_modules(root: Path) -> list[str]:
    """Test modules not at <root>/<kind>/<folder>/test_*.py, and folders of
    Python files without an __init__.py (two test_x.py would then collide)."""
    wrong = [
        str(path.relative_to(root.parent))
        for path in sorted(root.rglob("test_*.py"))
        if "node_modules" not in path.parts
        and (len(path.relative_to(root).parts) != 3 or path.relative_to(root).parts[0] not in KINDS)
    ]
    folders = {
        folder
        for path in root.rglob("*.py")
        if "node_modules" not in path.parts
        for folder in [path.parent, *path.parent.parents]
        if folder.is_relative_to(root)
    }
    wrong += [
        f"{folder.relative_to(root.parent)}/ has no __init__.py"
        for folder in sorted(folders)
        if not (folder / "__init__.py").is_file()
    ]
    return wrong


def test_no_module_under_tests_imports_a_test_module_or_a_conftest() -> None:
    assert imports_of_test_modules(TESTS) == []


def test_every_test_module_sits_in_one_folder_of_its_kind() -> None:
    assert misplaced_test_modules(TESTS) == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A small tests/ tree that breaks every rule once."""
    root = tmp_path / "tests"
    for folder in ("", "unit", "unit/sync", "integration", "support"):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "__init__.py").write_text("")
    (root / "conftest.py").write_text("")
    (root / "unit" / "sync" / "test_a.py").write_text("from tests.unit.sync import test_b\n")
    (root / "unit" / "sync" / "test_b.py").write_text(
        "from . import test_a\nfrom .test_a import x\nfrom tests.conftest import y\n"
    )
    (root / "unit" / "sync" / "test_c.py").write_text(
        "import tests.support.helpers\nfrom tests.support import helpers\n"
    )
    (root / "support" / "helpers.py").write_text("import tests.unit.sync.test_a\n")
    (root / "integration" / "test_flat.py").write_text("")
    (root / "e2e" / "sync").mkdir(parents=True)
    (root / "e2e" / "sync" / "test_d.py").write_text("")
    return root


def test_the_import_rule_finds_every_kind_of_import_of_a_test_module(planted: Path) -> None:
    assert imports_of_test_modules(planted) == [
        "tests/support/helpers.py:1 imports tests.unit.sync.test_a",
        "tests/unit/sync/test_a.py:1 imports tests.unit.sync.test_b",
        "tests/unit/sync/test_b.py:1 imports tests.unit.sync.test_a",
        "tests/unit/sync/test_b.py:2 imports tests.unit.sync.test_a",
        "tests/unit/sync/test_b.py:3 imports tests.conftest",
    ]


def test_the_folder_rule_finds_flat_test_modules_and_missing_packages(planted: Path) -> None:
    assert misplaced_test_modules(planted) == [
        "tests/integration/test_flat.py",
        "tests/e2e/ has no __init__.py",
        "tests/e2e/sync/ has no __init__.py",
    ]
