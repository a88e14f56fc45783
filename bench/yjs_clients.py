"""The Yjs clients of bench/yjs_relay.py: sender and receiver processes of node.

`YjsClients.start` runs bench/node/yjs_clients.js as S sender processes (the
documents dealt out among them, one sender per document) and R receiver
processes (each holding its share of every document's receivers), and waits
until every client is synced. `phase` makes the senders send and the
receivers count what arrives, and measures the server's CPU time over it;
`digest` tells whether every client of a document holds the same text.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from receivers import percentile
from syncd_server import cpu_seconds

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "yjs_clients.js"
LINE_LIMIT = 1 << 28  # a receiver's latencies of a flat-out phase are a long line


@dataclass
class YjsClients:
    node: str
    senders: list[asyncio.subprocess.Process] = field(default_factory=list)
    receivers: list[asyncio.subprocess.Process] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)  # 4xxx closes seen

    async def start(
        self,
        url: str,
        token: str | None,
        docs: list[str],
        senders: int,
        receivers: int,
        per_doc: int,
    ) -> None:
        for n in range(min(senders, len(docs))):
            config = {"url": url, "token": token, "docs": docs[n::senders], "role": "sender"}
            self.senders.append(await self.spawn(config))
        shares = [
            per_doc // receivers + (1 if n < per_doc % receivers else 0) for n in range(receivers)
        ]
        for share in (s for s in shares if s):
            config = {
                "url": url,
                "token": token,
                "docs": docs,
                "role": "receiver",
                "per_doc": share,
            }
            self.receivers.append(await self.spawn(config))
        for process in self.senders + self.receivers:
            await self.answer(process, "ready")

    async def spawn(self, config: dict[str, Any]) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            self.node,
            str(SCRIPT),
            json.dumps(config),
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )

    async def tell(self, process: asyncio.subprocess.Process, command: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(command).encode() + b"\n")
        await process.stdin.drain()

    async def answer(self, process: asyncio.subprocess.Process, event: str) -> dict[str, Any]:
        """The next line of `process` that is `event` (4xxx closes are noted on the way)."""
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"a Yjs client process exited ({await process.wait()})")
            message: dict[str, Any] = json.loads(line)
            if message["event"] == "closed":
                self.closed.append(message)
            elif message["event"] == event:
                return message
            else:
                raise RuntimeError(f"a Yjs client process answered {message}")

    async def phase(
        self, name: str, count: int, rate: float, server_pid: int, timeout_s: float
    ) -> dict[str, Any]:
        """`count` updates per document at `rate` per document per second (0: flat
        out); answers the latencies, the throughput and the server's CPU time."""
        receiving = [
            self.tell(
                p, {"cmd": "expect", "phase": name, "count": count, "timeout_ms": timeout_s * 1000}
            )
            for p in self.receivers
        ]
        await asyncio.gather(*receiving)
        before = cpu_seconds(server_pid)
        await asyncio.gather(
            *(
                self.tell(p, {"cmd": "send", "phase": name, "count": count, "rate": rate})
                for p in self.senders
            )
        )
        sent = await asyncio.gather(*(self.answer(p, "sent") for p in self.senders))
        seen = await asyncio.gather(*(self.answer(p, "seen") for p in self.receivers))
        cpu = cpu_seconds(server_pid) - before
        latencies = sorted(ms for s in seen for ms in s["latencies"])
        updates = sum(s["updates"] for s in sent)
        started = min(s["started"] for s in sent)
        last = max(s["last"] for s in seen)
        return {
            "updates": updates,
            "rate_per_doc": rate,
            "complete": all(s["complete"] for s in seen),
            "deliveries": len(latencies),
            "expected_deliveries": sum(s["expected"] for s in seen),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1] if latencies else float("nan"),
            "seconds": (last - started) / 1000,
            "updates_per_s": updates / max(1e-9, (last - started) / 1000),
            "server_cpu_s": cpu,
            "cpu_us_per_update": cpu / max(1, updates) * 1e6,
        }

    async def converged(self) -> bool:
        """Whether every client of each document holds the same text."""
        texts: dict[str, set[str]] = {}
        for process in self.senders + self.receivers:
            await self.tell(process, {"cmd": "digest"})
            for doc, hashes in (await self.answer(process, "digest"))["docs"].items():
                texts.setdefault(doc, set()).update(hashes)
        return all(len(hashes) == 1 for hashes in texts.values())

    async def stop(self) -> None:
        for process in self.senders + self.receivers:
            if process.returncode is None and process.stdin is not None:
                process.stdin.close()
        for process in self.senders + self.receivers:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
