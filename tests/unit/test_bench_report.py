"""The benchmark runner's pure parts: the docs block, the tables, the targets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

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
from bench_rows import rows_of

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


def test_a_target_missed_and_met_show_in_the_table() -> None:
    rows = rows_of(
        {
            "benchmark": "sync_push_pull",
            "changes": 10_000,
            "syncd": {
                "push_per_s": 40_000.0,
                "pull_per_s": 20_000.0,
                "first_batch_s": 0.1,
                "resent_batch_s": 0.01,
            },
            "baselines": {"copy_per_s": 150_000.0, "unnest_per_s": 60_000.0, "keyset_per_s": 1e5},
        }
    )

    assert [(row.measure, row.met) for row in rows] == [
        ("push (changes/s)", None),
        ("push (changes/s)", True),
        ("pull (changes/s)", False),
        ("resent batch (batches/s)", True),
    ]
    table = render_table(rows).splitlines()
    assert table[0].startswith("| benchmark | measure | syncd |")
    assert table[3] == (
        "| push/pull 10,000 changes | push (changes/s) | 40,000 | INSERT unnest ON CONFLICT"
        " | 60,000 | 0.67 | >= 30,000/s and >= 0.25x | yes |"
    )


def test_a_row_without_baseline_has_no_ratio() -> None:
    assert Row("fan-out", "p50 latency (ms)", 7.0).ratio is None


def test_the_machine_files_are_read() -> None:
    assert cpu_model("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\n") == "Intel(R) Xeon(R)"
    assert memory_gib("MemTotal:       24683656 kB\n") == 24683656 / 1024**2
    assert os_name('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == (
        "Debian GNU/Linux 12 (bookworm)"
    )


ORDER = ("sync_push_pull", "live_fanout", "yjs_relay", "reports")


def test_a_partial_run_carries_the_other_scripts_runs_over_with_their_date() -> None:
    previous = {
        "started": "2026-11-20T10:00:00+00:00",
        "runs": [
            {"benchmark": "sync_push_pull", "ok": True, "result": {"n": 1}},
            {"benchmark": "live_fanout", "ok": True, "result": {"n": 2}},
            {"benchmark": "yjs_relay", "ok": False, "result": None},  # failed then: not kept
            {"benchmark": "reports", "ok": True, "result": {"n": 3}, "carried_from": "2026-11-01"},
        ],
    }
    kept, note = carry_over(previous, {"live_fanout"}, ORDER)
    assert [run["benchmark"] for run in kept] == ["sync_push_pull", "reports"]
    assert [run["carried_from"] for run in kept] == ["2026-11-20", "2026-11-01"]
    assert note == (
        "Rows of sync_push_pull, reports are carried over from the run of 2026-11-01, 2026-11-20."
    )


def test_nothing_is_carried_without_a_previous_run_or_when_all_ran_again() -> None:
    assert carry_over(None, {"live_fanout"}, ORDER) == ([], None)
    previous = {"started": "2026-11-20", "runs": [{"benchmark": "reports", "ok": True}]}
    assert carry_over(previous, {"reports"}, ORDER) == ([], None)
