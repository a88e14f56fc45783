"""docs/routes.md agrees with the app: the generated route table and the role table.

The route table between the markers is exactly what `syncd routes --markdown`
prints for the app as built now, so a route added, removed or given another
permission without regenerating the page fails here. The role table is
checked against ROLE_PERMISSIONS.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from protocol.roles import Role
from syncd.app import create_app
from syncd.auth.permissions import ROLE_PERMISSIONS, Permission
from syncd.cli import ROUTES_BEGIN, ROUTES_END, replace_routes_table, routes_markdown
from tests.support.services import make_settings

ROUTES_DOC = Path(__file__).resolve().parents[3] / "docs" / "routes.md"
REGENERATE = "syncd routes --markdown --write docs/routes.md"


def documented_table(text: str) -> str:
    assert text.count(ROUTES_BEGIN) == 1, f"docs/routes.md needs one line {ROUTES_BEGIN}"
    assert text.count(ROUTES_END) == 1, f"docs/routes.md needs one line {ROUTES_END}"
    return text.split(ROUTES_BEGIN, 1)[1].split(ROUTES_END, 1)[0]


def test_routes_doc_lists_exactly_the_app_routes(tmp_path: Path) -> None:
    expected = "\n" + routes_markdown(create_app(make_settings(tmp_path)))
    found = documented_table(ROUTES_DOC.read_text(encoding="utf-8"))
    if found != expected:
        diff = "".join(
            difflib.unified_diff(
                found.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "docs/routes.md",
                "the app",
            )
        )
        pytest.fail(f"docs/routes.md is out of date; regenerate it with `{REGENERATE}`\n{diff}")


def test_routes_markdown_names_every_route_with_its_permission(tmp_path: Path) -> None:
    table = routes_markdown(create_app(make_settings(tmp_path)))
    lines = table.splitlines()
    assert lines[:2] == ["| method | path | permission |", "|---|---|---|"]
    rows = [re.fullmatch(r"\| ([A-Z]+) \| `([^`]+)` \| `([a-z:]+)` \|", line) for line in lines[2:]]
    assert all(rows), [line for line, row in zip(lines[2:], rows, strict=True) if row is None]
    assert ("GET", "/health/live", "public") in [row.groups() for row in rows if row]
    assert "HEAD" not in {row[1] for row in rows if row}


def test_replacing_the_table_keeps_the_rest_of_the_page() -> None:
    page = f"intro\n{ROUTES_BEGIN}\nold\n{ROUTES_END}\noutro\n"
    assert replace_routes_table(page, "| new |\n") == (
        f"intro\n{ROUTES_BEGIN}\n| new |\n{ROUTES_END}\noutro\n"
    )
    with pytest.raises(ValueError, match="routes:end"):
        replace_routes_table(f"intro\n{ROUTES_BEGIN}\n", "| new |\n")


def test_role_table_matches_role_permissions() -> None:
    """The permission x role table of docs/routes.md is ROLE_PERMISSIONS.

    `public` and `platform` are held by no role (anyone, and platform operators
    only); the page explains them in words instead of table rows. The table is
    written by hand: edit it when ROLE_PERMISSIONS or Permission changes.
    """
    text = ROUTES_DOC.read_text(encoding="utf-8").split(ROUTES_BEGIN, 1)[0]
    header = re.findall(r"^\| permission \| (.+) \|$", text, re.MULTILINE)
    assert len(header) == 1, "docs/routes.md needs one table headed | permission | <roles> |"
    roles = header[0].split(" | ")
    assert sorted(roles) == sorted(role.value for role in Role)
    documented: dict[str, list[str]] = {}
    for name, cells in re.findall(r"^\| `([a-z:]+)` \| (.+) \|$", text, re.MULTILINE):
        marks = cells.split(" | ")
        assert len(marks) == len(roles), f"{name}: one cell per role"
        documented[name] = sorted(r for r, mark in zip(roles, marks, strict=True) if mark == "yes")
    unheld = {Permission.PUBLIC, Permission.PLATFORM}
    assert not any(unheld & held for held in ROLE_PERMISSIONS.values())
    expected = {
        permission.value: sorted(
            role.value for role in Role if permission in ROLE_PERMISSIONS[role]
        )
        for permission in Permission
        if permission not in unheld
    }
    assert documented == expected, (
        "the permission x role table of docs/routes.md differs from ROLE_PERMISSIONS "
        "(syncd/auth/permissions.py); edit the table"
    )


def test_the_prose_says_which_permissions_guard_no_route() -> None:
    text = ROUTES_DOC.read_text()
    prose = text[: text.index("## Every route")]
    idle_text = prose.split("Guarding no route:", 1)[1].split("(")[0]
    idle = set(re.findall(r"`([a-z:]+)`", idle_text))
    table = text[text.index("## Every route") :]
    used = set(re.findall(r"^\| \w+ \| `[^`]+` \| `([a-z:]+)` \|$", table, re.M))
    permissions = set(re.findall(r"^\| `([a-z:]+)` \| (?:yes|—)", prose, re.M))
    assert idle == {"finance:manage"} - used
    assert permissions - used - {"api:docs", "authenticated"} == idle
    for permission in ("tasks:read", "tasks:work", "tasks:manage", "jobs:manage"):
        assert permission in used
        assert f"`{permission}` guards" in prose.replace("\n", " "), permission
