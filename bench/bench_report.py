"""What the benchmark runner reports: rows, tables, the machine, the docs block.

A `Row` is one figure beside its baseline (and the target the issues state
for it, if any), each with the 1-minute load average of the machine when it
was measured (`reading` takes it: the machine is shared, so a figure without
its load cannot be read). `render_text` prints rows for a terminal, `render_table` as
Markdown; `summary_block` is the generated part of docs/benchmarks.md and
`rewrite_block` puts it between the `<!-- bench:all -->` markers without
touching anything outside them. `machine_description` reads the machine
(CPU, cores, memory, OS); the parsers it uses are pure.

Nothing here runs a benchmark, so tests import it freely.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

START_MARKER = "<!-- bench:all -->"
END_MARKER = "<!-- /bench:all -->"


@dataclass(frozen=True)
class Row:
    """One measured figure, its baseline from the same run, and its target."""

    benchmark: str
    measure: str
    value: float
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None
    load: float | None = None  # 1-minute load average when `value` was measured
    baseline_load: float | None = None

    @property
    def ratio(self) -> float | None:
        """syncd over the baseline (for times, above 1 means slower)."""
        if not self.baseline_value or math.isnan(self.baseline_value):
            return None
        return self.value / self.baseline_value

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def reading(value: float) -> dict[str, float]:
    """A measured figure with the 1-minute load average at the moment it was taken."""
    return {"value": value, "load": os.getloadavg()[0]}


def figure(value: float | None) -> str:
    """A figure with as many digits as its size deserves."""
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cells(row: Row) -> list[str]:
    ratio = row.ratio
    return [
        row.benchmark,
        row.measure,
        figure(row.value),
        load(row.load),
        row.baseline or "-",
        figure(row.baseline_value),
        load(row.baseline_load) if row.baseline_value is not None else "-",
        "-" if ratio is None else f"{ratio:.2f}",
        row.target or "-",
        {None: "-", True: "yes", False: "no"}[row.met],
    ]


def load(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


HEADER = [
    "benchmark",
    "measure",
    "syncd",
    "load",
    "baseline",
    "baseline value",
    "load",
    "ratio",
    "target",
    "met",
]
NUMERIC = {2, 3, 5, 6, 7}  # right-aligned columns


def render_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    align = ["---:" if i in NUMERIC else "---" for i in range(len(HEADER))]
    lines = [HEADER, align, *(cells(row) for row in rows)]
    return "\n".join(
        "| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines
    )


def render_text(rows: Sequence[Row]) -> str:
    """The rows as aligned columns for a terminal."""
    table = [HEADER, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in NUMERIC else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    )


def rewrite_block(document: str, block: str) -> str:
    """`document` with `block` between the markers; the markers go before the
    first `## ` heading (after the intro) when absent. Idempotent."""
    # Blank lines around the block: a Markdown table or paragraph ends before the marker.
    fenced = f"{START_MARKER}\n\n{block.strip(chr(10))}\n\n{END_MARKER}"
    start = document.find(START_MARKER)
    if start >= 0:
        end = document.find(END_MARKER, start)
        if end < 0:
            raise ValueError(f"{START_MARKER} without {END_MARKER}")
        return document[:start] + fenced + document[end + len(END_MARKER) :]
    if END_MARKER in document:
        raise ValueError(f"{END_MARKER} without {START_MARKER}")
    lines = document.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("## "):
            return "".join(lines[:index]) + fenced + "\n\n" + "".join(lines[index:])
    return document.rstrip("\n") + "\n\n" + fenced + "\n"


def summary_block(
    machine: dict[str, str],
    started: str,
    load: tuple[float, float],
    command: str,
    rows: Sequence[Row],
    carried: str | None = None,
) -> str:
    """The generated section of docs/benchmarks.md (`carried`: a sentence naming
    the rows kept from an earlier run, when this one ran only some scripts)."""
    return "\n".join(
        [
            "## All benchmarks in one run (generated by `bench/run_all.py`)",
            "",
            "<!-- written by bench/run_all.py: edits between these markers are lost -->",
            "",
            f"Run of {started}: `{command}`; load average (1 min) {load[0]:.2f} at the "
            f"start, {load[1]:.2f} at the end." + (f" {carried}" if carried else ""),
            "",
            "Machine: " + describe(machine) + ".",
            "",
            "Ratio is syncd over the baseline (for times in seconds, above 1 is slower). "
            "Each figure has beside it the 1-minute load average of the machine when it was "
            "measured (`load`). Targets are those the issues state; the sections below "
            "explain the figures.",
            "",
            render_table(rows),
        ]
    )


def describe(machine: dict[str, str]) -> str:
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory']}, {machine['os']}, "
        f"Python {machine['python']}, PostgreSQL {machine['postgresql']}, "
        f"node {machine['node']}"
    )


def cpu_model(cpuinfo: str) -> str | None:
    """The `model name` of /proc/cpuinfo (or `Model name` of lscpu)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "model name" and value.strip():
            return value.strip()
    return None


def memory_gib(meminfo: str) -> float | None:
    """MemTotal of /proc/meminfo, in GiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return None


def os_name(os_release: str) -> str | None:
    """PRETTY_NAME of /etc/os-release."""
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return None


def read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_description(postgresql: str, node: str | None) -> dict[str, str]:
    """The machine the benchmarks run on, as printed in the docs."""
    cpu = cpu_model(read("/proc/cpuinfo"))
    lscpu = shutil.which("lscpu")
    if cpu is None and lscpu is not None:
        listing = subprocess.run([lscpu], capture_output=True, text=True, check=False)  # noqa: S603
        cpu = cpu_model(listing.stdout)
    memory = memory_gib(read("/proc/meminfo"))
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cores": str(os.cpu_count() or "?"),
        "memory": "unknown memory" if memory is None else f"{memory:.1f} GiB",
        "os": os_name(read("/etc/os-release")) or platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgresql,
        "node": node or "not found",
    }


def carry_over(
    previous: dict[str, Any] | None,
    ran: set[str],
    order: Sequence[str],
    readable: Callable[[dict[str, Any]], bool] = lambda result: True,
) -> tuple[list[dict[str, Any]], str | None]:
    """The successful runs of an earlier `all.json` whose scripts were not run now
    (and whose results this version can still read), each marked with the date
    it ran, and a sentence saying so (or None)."""
    if not previous:
        return [], None
    when = str(previous.get("started", "?"))[:10]
    kept = [
        {**run, "carried_from": run.get("carried_from", when)}
        for run in previous.get("runs", [])
        if run.get("ok")
        and run.get("benchmark") in order
        and run["benchmark"] not in ran
        and readable(run.get("result") or {})
    ]
    if not kept:
        return [], None
    names = sorted({run["benchmark"] for run in kept}, key=order.index)
    dates = sorted({run["carried_from"] for run in kept})
    return kept, (
        f"Rows of {', '.join(names)} are carried over from the run of {', '.join(dates)}."
    )
