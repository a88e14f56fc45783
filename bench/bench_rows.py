"""Rows of the summary table from each benchmark's JSON, with the stated targets.

Targets: push of task creations >= 10,000 changes/s and >= 0.5 of their
floor, push of edits >= 15,000/s and >= 0.5 of theirs (issue 17); pull
>= 100,000 changes/s and >= 0.5 of the raw keyset read; a resent batch at
least twice as fast as its first send; fan-out to 1,000 technicians and 10
dashboards with p99 under 100 ms and every delivery made (issue 17); at 1,000
admin sockets p99 under 100 ms and under 50 KiB per idle socket; a
technician's pull at least half an admin's rate per delivered change (issue
17); Yjs relay server CPU per update at most 1.5 times the node server's
(issue 17). Other figures carry no target. Every figure in a benchmark's JSON
is a `reading` (value and load average); rows carry both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench_report import Row

TARGET_SOCKETS = 1000  # the admin fan-out targets are stated for 1,000 clients
FORMAT = 2  # results written before figures carried their load are not read


def readable(result: dict[str, Any]) -> bool:
    """Whether a benchmark's JSON is of the format these rows read."""
    return result.get("format") == FORMAT


def beside(
    label: str,
    measure: str,
    ours: dict[str, float],
    baseline: str = "",
    base: dict[str, float] | None = None,
    target: str = "",
    met: bool | None = None,
) -> Row:
    """A row from two readings (value and load each)."""
    return Row(
        label,
        measure,
        ours["value"],
        baseline,
        None if base is None else base["value"],
        target,
        met,
        ours.get("load"),
        None if base is None else base.get("load"),
    )


def at_least(ours: dict[str, float], base: dict[str, float], rate: float, ratio: float) -> bool:
    return ours["value"] >= rate and ours["value"] >= ratio * base["value"]


def sync_rows(data: dict[str, Any]) -> list[Row]:
    label = f"push/pull {data['changes']:,}"
    f = data["figures"]
    batch = f"same rows raw, a transaction per {data['batch']} (floor)"
    push = "push creations (changes/s)"
    return [
        beside(
            label,
            push,
            f["creations"],
            batch,
            f["creations_floor"],
            ">= 10,000/s and >= 0.5x",
            at_least(f["creations"], f["creations_floor"], 10_000, 0.5),
        ),
        beside(
            label,
            "push edits (changes/s)",
            f["edits"],
            batch,
            f["edits_floor"],
            ">= 15,000/s and >= 0.5x",
            at_least(f["edits"], f["edits_floor"], 15_000, 0.5),
        ),
        beside(label, push, f["creations"], "context: asyncpg COPY, one table", f["copy"]),
        beside(label, push, f["creations"], "context: unnest, one table, all at once", f["unnest"]),
        beside(
            label,
            push,
            f["creations"],
            "context: unnest, one table, per batch",
            f["unnest_batched"],
        ),
        beside(
            label,
            "pull of the log (changes/s)",
            f["pull"],
            "raw keyset, same rows",
            f["keyset"],
            ">= 100,000/s and >= 0.5x",
            at_least(f["pull"], f["keyset"], 100_000, 0.5),
        ),
        beside(
            label,
            "resent batch (batches/s)",
            f["resent_batch"],
            "first send (batches/s)",
            f["first_batch"],
            ">= 2x",
            f["resent_batch"]["value"] >= 2 * f["first_batch"]["value"],
        ),
    ]


def pull_rows(data: dict[str, Any]) -> list[Row]:
    label = f"pull, {data['tasks']:,} tasks"
    f = data["figures"]
    per = f"{data['per_technician']:,}"
    return [
        beside(
            label,
            f"technician ({per} tasks) from 0 (changes/s)",
            f["technician_snapshot"],
            "admin from 0 (changes/s)",
            f["admin_snapshot"],
            ">= 0.5x",
            f["technician_snapshot"]["value"] >= 0.5 * f["admin_snapshot"]["value"],
        ),
        beside(
            label,
            f"technician ({per} tasks), log from version 0 (changes/s)",
            f["technician_log"],
            "admin, log from version 0 (changes/s)",
            f["admin_log"],
            ">= 0.5x",
            f["technician_log"]["value"] >= 0.5 * f["admin_log"]["value"],
        ),
    ]


def at(result: dict[str, Any], key: str) -> dict[str, float]:
    """A reading of one figure of a run that took one load average at its end."""
    return {"value": result[key], "load": result["load"]}


def fleet_rows(data: dict[str, Any]) -> list[Row]:
    r = data["result"]
    label = f"fan-out {r['technicians']:,} technicians + {r['admins']} dashboards"
    stated = r["technicians"] >= TARGET_SOCKETS
    p99 = r["p99_ms"]
    return [
        beside(label, "deliveries", at(r, "deliveries"), "expected", at(r, "expected_deliveries")),
        beside(label, "p50 latency from the push's send (ms)", at(r, "p50_ms")),
        beside(label, "p95 latency (ms)", at(r, "p95_ms")),
        beside(
            label,
            "p99 latency (ms)",
            at(r, "p99_ms"),
            target="< 100 ms (goal 50), all delivered" if stated else "",
            met=(p99 < 100 and r["missing"] == 0) if stated else None,
        ),
        beside(label, "p99 latency at technicians' phones (ms)", at(r["technician"] | r, "p99_ms")),
        beside(label, "p99 latency at dashboards (ms)", at(r["admin"] | r, "p99_ms")),
        beside(label, "server CPU per delivery (us)", at(r, "server_cpu_us_per_delivery")),
    ]


def fanout_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for r in data["results"]:
        label = f"fan-out {r['sockets']:,} admin sockets (context)"
        stated = r["sockets"] == TARGET_SOCKETS
        complete = r["missing"] == 0
        rows += [
            beside(
                label, "deliveries", at(r, "deliveries"), "expected", at(r, "expected_deliveries")
            ),
            beside(label, "p50 latency from the push's send (ms)", at(r, "p50_ms")),
            beside(
                label,
                "p99 latency (ms)",
                at(r, "p99_ms"),
                target="< 100 ms, all delivered" if stated else "",
                met=(r["p99_ms"] < 100 and complete) if stated else None,
            ),
            beside(
                label,
                "memory per idle socket (KiB)",
                at(r, "kib_per_idle_socket"),
                target="< 50 KiB" if stated else "",
                met=r["kib_per_idle_socket"] < 50 if stated else None,
            ),
            beside(label, "server CPU per delivery (us)", at(r, "server_cpu_us_per_delivery")),
        ]
    return rows


def yjs_rows(data: dict[str, Any]) -> list[Row]:
    """syncd beside the node server, each figure at a steady rate (the target) and
    flat out (context)."""
    servers = {s["server"]: s for s in data["servers"]}
    ours, node = servers.get("syncd"), servers.get("node")
    if ours is None:
        return []
    label = f"Yjs relay, {data['documents']} documents x {data['receivers_per_document']} receivers"
    name = "@y/websocket-server (node)"

    def row(measure: str, phase: str, key: str, target: str = "", met: bool | None = None) -> Row:
        theirs = None if node is None else node[phase]
        return beside(
            label,
            measure,
            {"value": ours[phase][key], "load": ours[phase]["load"]},
            name,
            None if theirs is None else {"value": theirs[key], "load": theirs["load"]},
            target,
            met,
        )

    converged = ours["converged"] and (node is None or node["converged"])
    cpu = ours["steady"]["cpu_us_per_update"]
    met = None if node is None else converged and cpu <= 1.5 * node["steady"]["cpu_us_per_update"]
    return [
        row("server CPU per update, steady (us)", "steady", "cpu_us_per_update", "<= 1.5x", met),
        row("p50 latency, steady (ms)", "steady", "p50_ms"),
        row("p99 latency, steady (ms)", "steady", "p99_ms"),
        row("server CPU per update, flat out (us)", "flat", "cpu_us_per_update"),
        row("throughput, flat out (updates/s)", "flat", "updates_per_s"),
    ]


DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def reports_rows(data: dict[str, Any]) -> list[Row]:
    label = f"job sheet (median of {data['repeat']})"
    rows = []
    for row in data["rows"]:
        where = f"{DATABASES.get(row['database'], row['database'])}, {row['locale']}"
        load = row["load"]  # the baseline is measured in the same iterations
        rows += [
            Row(
                label,
                f"render, {where} (s)",
                row["render_s"],
                "fpdf2 unshaped",
                row["baseline_s"],
                load=load,
                baseline_load=load,
            ),
            Row(label, f"whole job, {where} (s)", row["job_s"], load=load),
        ]
    return rows


ROWS_OF: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "sync_push_pull": sync_rows,
    "fleet_fanout": fleet_rows,
    "live_fanout": fanout_rows,
    "scoped_pull": pull_rows,
    "yjs_relay": yjs_rows,
    "reports": reports_rows,
}


def rows_of(data: dict[str, Any]) -> list[Row]:
    """The summary rows of one benchmark's JSON (its `benchmark` field names it)."""
    return ROWS_OF[data["benchmark"]](data)
