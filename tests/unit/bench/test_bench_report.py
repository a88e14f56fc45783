"""The benchmark runner's pure parts: the docs block, the tables, the targets, the loads."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from bench_report import (
    END_MARKER,
    START_MARKER,
    Row,
    carry_over,
    cpu_model,
    memory_gib,
    os_name,
    render_table,
    rewrite_block,
)
from bench_rows import readable, rows_of

DOC = """# Benchmarks

Intro paragraph.

Second intro paragraph.

## Sync push and pull

Hand-written reading.
"""


def test_the_markers_are_inserted_after_the_intro_when_absent() -> None:
    rewritten = rewrite_block(DOC, "the table")

    assert rewritten == DOC.replace(
        "## Sync", f"{START_MARKER}\n\nthe table\n\n{END_MARKER}\n\n## Sync", 1
    )


def test_only_the_text_between_the_markers_is_replaced() -> None:
    before = rewrite_block(DOC, "old table\nold machine")

    after = rewrite_block(before, "\nnew table\n")

    assert after == rewrite_block(DOC, "new table")
    assert after.startswith("# Benchmarks\n\nIntro paragraph.\n\nSecond intro paragraph.\n\n")
    assert after.endswith(f"{END_MARKER}\n\n## Sync push and pull\n\nHand-written reading.\n")
    assert "old" not in after


def test_rewriting_is_idempotent() -> None:
    once = rewrite_block(DOC, "the table")

    assert rewrite_block(once, "the table") == once


def test_a_document_without_sections_gets_the_block_at_its_end() -> None:
    assert rewrite_block("# Title\n\nIntro.\n", "b") == (
        f"# Title\n\nIntro.\n\n{START_MARKER}\n\nb\n\n{END_MARKER}\n"
    )


def at(value: float, load: float = 1.5) -> dict[str, float]:
    return {"value": value, "load": load}


PUSH = {
    "benchmark": "sync_push_pull",
    "format": 2,
    "changes": 10_000,
    "batch": 500,
    "figures": {
        "creations": at(12_000.0, 0.8),
        "creations_floor": at(20_000.0, 0.9),
        "edits": at(16_000.0),
        "edits_floor": at(40_000.0),
        "copy": at(150_000.0),
        "unnest": at(60_000.0),
        "unnest_batched": at(55_000.0),
        "pull": at(20_000.0),
        "keyset": at(100_000.0),
        "first_batch": at(10.0),
        "resent_batch": at(100.0),
    },
}


def test_a_target_missed_and_met_show_in_the_table_with_each_figures_load() -> None:
    rows = rows_of(PUSH)

    assert [(row.measure, row.baseline.split(",")[0], row.met) for row in rows] == [
        ("push creations (changes/s)", "same rows raw", True),
        ("push edits (changes/s)", "same rows raw", False),  # 16,000/s but 0.4x its floor
        ("push creations (changes/s)", "context: asyncpg COPY", None),
        ("push creations (changes/s)", "context: unnest", None),
        ("push creations (changes/s)", "context: unnest", None),
        ("pull of the log (changes/s)", "raw keyset", False),
        ("resent batch (batches/s)", "first send (batches/s)", True),
    ]
    table = render_table(rows).splitlines()
    assert table[0] == (
        "| benchmark | measure | syncd | load | baseline | baseline value | load | ratio"
        " | target | met |"
    )
    assert table[2] == (
        "| push/pull 10,000 | push creations (changes/s) | 12,000 | 0.80"
        " | same rows raw, a transaction per 500 (floor) | 20,000 | 0.90 | 0.60"
        " | >= 10,000/s and >= 0.5x | yes |"
    )


def fleet(p99: float, missing: int, technicians: int = 1000) -> dict[str, object]:
    summary = {"p50_ms": 5.0, "p95_ms": 20.0, "p99_ms": p99, "max_ms": 120.0}
    return {
        "benchmark": "fleet_fanout",
        "format": 2,
        "result": {
            "technicians": technicians,
            "admins": 10,
            "deliveries": 3300 - missing,
            "expected_deliveries": 3300,
            "missing": missing,
            "server_cpu_us_per_delivery": 40.0,
            "load": 2.25,
            "technician": {"deliveries": 300, **summary},
            "admin": {"deliveries": 3000 - missing, **summary},
            **summary,
        },
    }


def test_the_fleet_target_needs_the_tail_under_100_ms_and_every_delivery() -> None:
    def met(data: dict[str, object]) -> bool | None:
        (p99,) = [row for row in rows_of(data) if row.measure == "p99 latency (ms)"]
        assert p99.load == 2.25
        return p99.met

    assert met(fleet(60.0, 0)) is True
    assert met(fleet(60.0, 1)) is False  # one delivery missing
    assert met(fleet(100.0, 0)) is False
    assert met(fleet(60.0, 0, technicians=50)) is None  # the target is stated for 1,000


def test_a_technicians_pull_is_held_to_half_the_admins_rate_per_change() -> None:
    data = {
        "benchmark": "scoped_pull",
        "format": 2,
        "tasks": 100_000,
        "per_technician": 1000,
        "figures": {
            "technician_snapshot": at(50_000.0),
            "admin_snapshot": at(90_000.0),
            "technician_log": at(585.0),
            "admin_log": at(96_500.0),
        },
    }

    assert [(row.ratio, row.met) for row in rows_of(data)] == [
        (50_000 / 90_000, True),
        (585 / 96_500, False),
    ]


def test_the_yjs_target_is_cpu_per_update_at_a_steady_rate_beside_node() -> None:
    def server(name: str, cpu: float) -> dict[str, object]:
        phase = {"cpu_us_per_update": cpu, "p50_ms": 1.0, "p99_ms": 3.0, "updates_per_s": 900.0}
        return {
            "server": name,
            "converged": True,
            "steady": {**phase, "load": 1.0},
            "flat": {**phase, "cpu_us_per_update": cpu / 2, "load": 1.2},
        }

    data = {
        "benchmark": "yjs_relay",
        "format": 2,
        "documents": 4,
        "receivers_per_document": 10,
        "servers": [server("node", 200.0), server("syncd", 290.0)],
    }
    first = rows_of(data)[0]
    assert (first.value, first.baseline_value, first.met) == (290.0, 200.0, True)
    data["servers"] = [server("node", 200.0), server("syncd", 310.0)]
    assert rows_of(data)[0].met is False


def test_a_row_without_baseline_has_no_ratio() -> None:
    assert Row("fan-out", "p50 latency (ms)", 7.0).ratio is None


def test_the_machine_files_are_read() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n") == "Intel(R) Xeon(R)"
    assert memory_gib("MemTotal:       24683656 kB\n") == 24683656 / 1024**2
    assert os_name('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == (
        "Debian GNU/Linux 12 (bookworm)"
    )


ORDER = ("sync_push_pull", "scoped_pull", "live_fanout", "yjs_relay", "reports")


def test_a_partial_run_carries_the_other_scripts_runs_over_with_their_date() -> None:
    previous = {
        "started": "2026-11-20T10:00:00+00:00",
        "runs": [
            {"benchmark": "sync_push_pull", "ok": True, "result": {"format": 2}},
            {"benchmark": "live_fanout", "ok": True, "result": {"format": 2}},
            {"benchmark": "yjs_relay", "ok": False, "result": None},  # failed then: not kept
            {
                "benchmark": "reports",
                "ok": True,
                "result": {"format": 2},
                "carried_from": "2026-11-01",
            },
            {"benchmark": "scoped_pull", "ok": True, "result": {"n": 4}},  # unreadable now
        ],
    }
    kept, note = carry_over(previous, {"live_fanout"}, ORDER, readable)
    assert [run["benchmark"] for run in kept] == ["sync_push_pull", "reports"]
    assert [run["carried_from"] for run in kept] == ["2026-11-20", "2026-11-01"]
    assert note == (
        "Rows of sync_push_pull, reports are carried over from the run of 2026-11-01, 2026-11-20."
    )


def test_nothing_is_carried_without_a_previous_run_or_when_all_ran_again() -> None:
    assert carry_over(None, {"live_fanout"}, ORDER) == ([], None)
    previous = {"started": "2026-11-20", "runs": [{"benchmark": "reports", "ok": True}]}
    assert carry_over(previous, {"reports"}, ORDER) == ([], None)
