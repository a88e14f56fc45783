"""docs/operations.md's configuration table is the one generated from `Settings`.

The part between the config markers is exactly what `syncd config-reference`
prints, so a setting added, removed, re-defaulted or re-described without
regenerating the page fails here.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from pathlib import Path

import pytest

from syncd import cli
from syncd.config_reference import (
    CONFIG_BEGIN,
    CONFIG_END,
    HEADER,
    SPECIAL_CASES,
    config_reference_markdown,
    replace_config_table,
)
from syncd.settings import ENV_VARIABLES, Settings

OPERATIONS_DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
REGENERATE = "syncd config-reference --write docs/operations.md"


def documented_table(text: str) -> str:
    assert text.count(CONFIG_BEGIN) == 1, f"docs/operations.md needs one line {CONFIG_BEGIN}"
    assert text.count(CONFIG_END) == 1, f"docs/operations.md needs one line {CONFIG_END}"
    return text.split(CONFIG_BEGIN, 1)[1].split(CONFIG_END, 1)[0]


def test_operations_doc_has_the_generated_configuration_table() -> None:
    expected = "\n" + config_reference_markdown()
    found = documented_table(OPERATIONS_DOC.read_text(encoding="utf-8"))
    if found != expected:
        diff = "".join(
            difflib.unified_diff(
                found.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "docs/operations.md",
                "syncd/settings.py",
            )
        )
        pytest.fail(
            f"the configuration table of docs/operations.md is out of date; "
            f"regenerate it with `{REGENERATE}`\n{diff}"
        )


def test_every_variable_has_exactly_one_row() -> None:
    lines = config_reference_markdown().splitlines()
    assert lines[:2] == [HEADER, "|---|---|---|---|"]
    rows = [re.match(r"\| `([A-Z][A-Z0-9_]*)` \|", line) for line in lines[2:]]
    assert all(rows), [line for line, row in zip(lines[2:], rows, strict=True) if row is None]
    names = [row[1] for row in rows if row]
    assert not [name for name, n in Counter(names).items() if n > 1], names
    assert sorted(names) == sorted(ENV_VARIABLES)
    for line in lines[2:]:  # four cells, none of them empty; escaped pipes stay inside
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        assert len(cells) == 4, line
        assert all(cell.strip() for cell in cells), line


def test_every_setting_has_a_description() -> None:
    undescribed = [
        str(field.validation_alias)
        for field in Settings.model_fields.values()
        if not (field.description or "").strip()
    ]
    assert not undescribed, f"give these fields a description= in syncd/settings.py: {undescribed}"


def test_special_cases_name_real_variables() -> None:
    assert sorted(set(SPECIAL_CASES) - set(ENV_VARIABLES)) == []


def test_rules_come_from_the_constraints() -> None:
    rows = {
        line.split(" | ", 1)[0].strip("|` "): line.split(" | ")
        for line in config_reference_markdown().splitlines()[2:]
    }
    assert rows["SYNCD_PORT"][1:3] == ["`8080`", "1\u201365535"]
    assert rows["SYNCD_ENV"][2] == r"`dev` \| `test` \| `production`"
    assert rows["METRICS_TOKEN"][2] == "at least 16 characters"
    assert rows["PDF_ENGINE"][2] == "only `fpdf2`"
    assert rows["JWT_ACCESS_SECRET"][2].startswith("at least 32 characters in production")
    assert rows["REFRESH_TOKEN_TTL_SECONDS"][1] == "`2592000` (30 days)"
    assert rows["REDIS_URL"][1] == "unset"


def test_replacing_the_table_keeps_the_rest_of_the_page() -> None:
    page = f"intro\n{CONFIG_BEGIN}\nold\n{CONFIG_END}\noutro\n"
    assert replace_config_table(page, "| new |\n") == (
        f"intro\n{CONFIG_BEGIN}\n| new |\n{CONFIG_END}\noutro\n"
    )
    with pytest.raises(ValueError, match="config:end"):
        replace_config_table(f"intro\n{CONFIG_BEGIN}\n", "| new |\n")


def test_cli_writes_the_table_without_reading_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_settings() -> Settings:
        raise AssertionError("config-reference must not read the settings")

    monkeypatch.setattr(cli, "load_settings", no_settings)
    page = tmp_path / "operations.md"
    page.write_text(f"intro\n{CONFIG_BEGIN}\nold\n{CONFIG_END}\noutro\n", encoding="utf-8")
    assert cli.main(["config-reference", "--write", str(page)]) == 0
    assert documented_table(page.read_text(encoding="utf-8")) == "\n" + config_reference_markdown()
    assert page.read_text(encoding="utf-8").endswith(f"{CONFIG_END}\noutro\n")
    assert cli.main(["config-reference"]) == 0
    assert capsys.readouterr().out == config_reference_markdown()
    page.write_text("no markers\n", encoding="utf-8")
    assert cli.main(["config-reference", "--write", str(page)]) == cli.EXIT_BAD_INPUT
