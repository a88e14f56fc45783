"""Receiver processes for the fan-out benchmarks, and what their arrivals add up to.

`Receivers` starts bench/fanout_receiver.py processes, deals the sockets out
among them (round robin, so every process holds a share of each kind), and
merges what they report. `latencies` turns arrivals into delivery latencies
from each commit's send time; `percentile` and `summary` are pure.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECEIVER = Path(__file__).resolve().parent / "fanout_receiver.py"
LINE_LIMIT = 1 << 28  # the arrivals line of thousands of sockets is several MiB


@dataclass
class Receivers:
    """Receiver processes, each holding a share of the sockets."""

    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(
        self, url: str, sockets: list[dict[str, Any]], processes: int
    ) -> dict[str, float]:
        """Open `sockets` (fanout_receiver.py's socket configs) over `processes`
        processes; answers how many connected and how long the slowest took."""
        shares = [sockets[i::processes] for i in range(processes)]
        for share in (s for s in shares if s):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(RECEIVER),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
            )
            self.processes.append(process)
            await self.tell(process, {"url": url, "sockets": share})
        ready = await asyncio.gather(*(self.read(p) for p in self.processes))
        return {
            "connected": sum(r["connected"] for r in ready),
            "seconds": max(r["seconds"] for r in ready),
        }

    async def drain(self, commits: list[tuple[int, str]], timeout_s: float) -> dict[str, Any]:
        """Wait until every socket has every commit in its scope (or the timeout);
        merge the arrivals: {kind: {version: [times]}}, expected and missing per kind."""
        for process in self.processes:
            await self.tell(process, {"drain": commits, "timeout_s": timeout_s})
        answers = await asyncio.gather(*(self.read(p) for p in self.processes))
        arrivals: dict[str, dict[int, list[float]]] = {}
        expected: dict[str, int] = {}
        missing: dict[str, int] = {}
        for answer in answers:
            for kind, by_version in answer["arrivals"].items():
                mine = arrivals.setdefault(kind, {})
                for version, times in by_version.items():
                    mine.setdefault(int(version), []).extend(times)
            for kind, count in answer["expected"].items():
                expected[kind] = expected.get(kind, 0) + count
            for kind, count in answer["missing"].items():
                missing[kind] = missing.get(kind, 0) + count
        return {
            "arrivals": arrivals,
            "expected": expected,
            "missing": missing,
            "closed": sum(a["closed"] for a in answers),
            "close_codes": sorted({c for a in answers for c in a["close_codes"]}),
        }

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None and process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        self.processes.clear()

    @staticmethod
    async def tell(process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()

    @staticmethod
    async def read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"a receiver exited ({await process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("event") == "error":
            raise RuntimeError(f"a receiver failed: {answer['message']}")
        return answer


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN for none)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latencies(sent: dict[int, float], by_version: dict[int, list[float]]) -> list[float]:
    """Milliseconds from each commit's send to each of its deliveries, ascending."""
    return sorted(
        (at - sent[version]) * 1000
        for version, times in by_version.items()
        if version in sent
        for at in times
    )


def summary(ordered: list[float]) -> dict[str, float]:
    """p50, p95, p99, max and mean of ascending latencies (ms)."""
    return {
        "p50_ms": percentile(ordered, 50),
        "p95_ms": percentile(ordered, 95),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else float("nan"),
        "mean_ms": statistics.fmean(ordered) if ordered else float("nan"),
    }
