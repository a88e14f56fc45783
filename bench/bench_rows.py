"""Rows of the summary table from each benchmark's JSON, with the stated targets.

Targets (from the sync and live sync issues): push >= 30,000 changes/s and
>= 0.25 of the idempotent `unnest` insert; pull >= 100,000 changes/s and
>= 0.5 of the raw keyset query; a resent batch at least twice as fast as its
first send; at 1,000 sockets a fan-out p99 under 100 ms (with every change
delivered) and under 50 KiB per idle socket; Yjs relay throughput at least
the node server's (both converged). Other figures carry no target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench_report import Row

TARGET_SOCKETS = 1000  # the fan-out targets are stated for 1,000 clients


def sync_rows(data: dict[str, Any]) -> list[Row]:
    label = f"push/pull {data['changes']:,} changes"
    ours, base = data["syncd"], data["baselines"]
    push, pull = ours["push_per_s"], ours["pull_per_s"]
    resent, first = 1 / ours["resent_batch_s"], 1 / ours["first_batch_s"]
    return [
        Row(label, "push (changes/s)", push, "asyncpg COPY", base["copy_per_s"]),
        Row(
            label,
            "push (changes/s)",
            push,
            "INSERT unnest ON CONFLICT",
            base["unnest_per_s"],
            ">= 30,000/s and >= 0.25x",
            push >= 30_000 and push >= 0.25 * base["unnest_per_s"],
        ),
        *[
            Row(label, "push (changes/s)", push, name, base[key])
            for name, key in (
                ("unnest, a commit per batch", "unnest_batched_per_s"),
                ("every row a creation writes", "creation_writes_per_s"),
            )
            if key in base  # runs before these baselines existed lack them
        ],
        Row(
            label,
            "pull (changes/s)",
            pull,
            "raw keyset, same rows",
            base["keyset_per_s"],
            ">= 100,000/s and >= 0.5x",
            pull >= 100_000 and pull >= 0.5 * base["keyset_per_s"],
        ),
        Row(
            label,
            "resent batch (batches/s)",
            resent,
            "first send (batches/s)",
            first,
            ">= 2x",
            resent >= 2 * first,
        ),
    ]


def fanout_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for result in data["results"]:
        label = f"fan-out {result['sockets']:,} sockets"
        at_target = result["sockets"] == TARGET_SOCKETS
        complete = result["deliveries"] == result["expected_deliveries"]
        p99, memory = result["p99_ms"], result["kib_per_idle_socket"]
        rows += [
            Row(
                label,
                "deliveries",
                result["deliveries"],
                "expected",
                result["expected_deliveries"],
            ),
            Row(label, "p50 latency (ms)", result["p50_ms"]),
            Row(
                label,
                "p99 latency (ms)",
                p99,
                target="< 100 ms, all delivered" if at_target else "",
                met=(p99 < 100 and complete) if at_target else None,
            ),
            Row(
                label,
                "memory per idle socket (KiB)",
                memory,
                target="< 50 KiB" if at_target else "",
                met=memory < 50 if at_target else None,
            ),
        ]
    return rows


def yjs_rows(data: dict[str, Any]) -> list[Row]:
    by_server = {s["server"].split()[0]: s for s in data["servers"]}
    ours, node = by_server.get("syncd"), by_server.get("@y/websocket-server")
    if ours is None:
        return []
    label, node_name = "Yjs relay", "@y/websocket-server (node)"

    def beside(measure: str, key: str) -> Row:
        return Row(label, measure, ours[key], node_name, None if node is None else node[key])

    converged = ours["converged"] and node is not None and node["converged"]
    throughput = beside("throughput (updates/s)", "updates_per_s")
    met = None if node is None else converged and ours["updates_per_s"] >= node["updates_per_s"]
    return [
        replace(throughput, target=">= node's", met=met),
        beside("p50 latency (ms)", "p50_ms"),
        beside("p99 latency (ms)", "p99_ms"),
    ]


DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def reports_rows(data: dict[str, Any]) -> list[Row]:
    label = f"job sheet (median of {data['repeat']})"
    rows = []
    for row in data["rows"]:
        where = f"{DATABASES.get(row['database'], row['database'])}, {row['locale']}"
        rows += [
            Row(
                label, f"render, {where} (s)", row["render_s"], "fpdf2 unshaped", row["baseline_s"]
            ),
            Row(label, f"whole job, {where} (s)", row["job_s"]),
        ]
    return rows


ROWS_OF: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "sync_push_pull": sync_rows,
    "live_fanout": fanout_rows,
    "yjs_relay": yjs_rows,
    "reports": reports_rows,
}


def rows_of(data: dict[str, Any]) -> list[Row]:
    """The summary rows of one benchmark's JSON (its `benchmark` field names it)."""
    return ROWS_OF[data["benchmark"]](data)
