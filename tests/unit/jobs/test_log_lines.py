"""Log lines operators read: JSON, and no library noise.

fpdf2 subsets the job sheet's font through fontTools, which logs every table
it keeps at INFO; `configure_logging` keeps those out (they were most of a
short session's log), and what is left is JSON, one object a line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
import structlog

from jobs.job_sheets import render
from jobs.sheet_data import JobSheet, SheetEvent
from syncd.logging import configure_logging


@pytest.fixture
def restored_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_rendering_a_sheet_logs_no_font_subsetting(
    capsys: pytest.CaptureFixture[str], restored_logging: object
) -> None:
    configure_logging("info", "json")
    now = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    for locale in ("en", "ar"):
        render(JobSheet(locale, "Acme", "Pump", "open", now, events=(SheetEvent("note", now),)))
    structlog.get_logger("jobs.reports").info("job sheet made", report_id="r1")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert not [line for line in lines if "fontTools" in line], lines
    assert [json.loads(line)["event"] for line in lines] == ["job sheet made"]
