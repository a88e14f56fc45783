"""The receiving side of the fan-out benchmarks: one process holding many `/sync/ws` sockets.

Talks JSON lines with its parent (bench/receivers.py). Reads a config line
`{"url", "sockets": [{"token", "client_id", "cursor", "kind", "scope"}]}`: each
socket signs in with its own token (an admin's dashboards, or a technician's
phone), says hello with its cursor, and has a `kind` (how its deliveries are
reported) and a `scope` (the task ids it should receive, or null for every
change). Once every socket has had `caught_up` it answers `{"event": "ready",
...}`. From then on it records, per socket, the monotonic time each change's
version first arrived (read before any parsing).

On `{"drain": [[version, task id], ...], "timeout_s": t}` it waits until every
socket has every version whose task is in its scope (or t seconds), answers
`{"event": "arrivals", "arrivals": {kind: {version: [times]}}, "expected":
{kind: n}, "missing": {kind: n}, ...}`, and exits when its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CONNECTING_AT_ONCE = 64


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def read_line() -> dict[str, Any] | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        return None
    message: dict[str, Any] = json.loads(line)
    return message


@dataclass
class Socket:
    """One socket's identity, scope and what it received."""

    token: str
    client_id: str
    cursor: str | None
    kind: str
    scope: frozenset[str] | None  # task ids; None: every change
    received: dict[int, float] = field(default_factory=dict)  # version -> first arrival
    pending: set[int] = field(default_factory=set)
    close_code: int | None = None

    def expects(self, task_id: str) -> bool:
        return self.scope is None or task_id in self.scope


class Fleet:
    """The sockets of this process and what they received."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        self.sockets = [
            Socket(
                s["token"],
                s["client_id"],
                s.get("cursor"),
                s.get("kind", "socket"),
                None if s.get("scope") is None else frozenset(s["scope"]),
            )
            for s in config["sockets"]
        ]
        self.draining = False
        self.short = 0  # sockets still missing an expected version
        self.caught_up = 0
        self.all_caught_up = asyncio.Event()
        self.all_drained = asyncio.Event()
        self.open: list[aiohttp.ClientWebSocketResponse] = []
        self.gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def follow(self, http: aiohttp.ClientSession, sock: Socket) -> None:
        async with self.gate:
            ws = await http.ws_connect(
                self.url, protocols=("syncd.v1", f"bearer.{sock.token}"), max_msg_size=0
            )
            self.open.append(ws)
            hello = {
                "type": "hello",
                "client_id": sock.client_id,
                "cursor": sock.cursor,
                "schema": 2,  # the current app schema (docs/protocol.md, Schema versions)
            }
            await ws.send_str(json.dumps(hello))
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"{sock.client_id} ended before caught_up: {message}")
                if json.loads(message.data)["type"] == "caught_up":
                    break
        self.caught_up += 1
        if self.caught_up == len(self.sockets):
            self.all_caught_up.set()
        while True:
            message = await ws.receive()
            at = time.monotonic()  # before any parsing: the frame is here
            if message.type is not aiohttp.WSMsgType.TEXT:
                sock.close_code = ws.close_code
                return
            frame = json.loads(message.data)
            if frame["type"] != "changes":
                continue
            for change in frame["changes"]:
                version = change["version"]
                if version in sock.received:
                    continue
                sock.received[version] = at
                if self.draining and version in sock.pending:
                    sock.pending.discard(version)
                    if not sock.pending:
                        self.settled()

    def expect(self, commits: list[tuple[int, str]]) -> None:
        """From now on, count down the versions each socket still lacks."""
        self.short = 0
        for sock in self.sockets:
            wanted = {version for version, task_id in commits if sock.expects(task_id)}
            sock.pending = wanted - sock.received.keys()
            self.short += bool(sock.pending)
        self.draining = True
        if self.short == 0:
            self.all_drained.set()

    def settled(self) -> None:
        self.short -= 1
        if self.short == 0:
            self.all_drained.set()

    def report(self, commits: list[tuple[int, str]]) -> dict[str, Any]:
        arrivals: dict[str, dict[int, list[float]]] = {}
        expected: dict[str, int] = {}
        missing: dict[str, int] = {}
        for sock in self.sockets:
            mine = arrivals.setdefault(sock.kind, {})
            for version, task_id in commits:
                if not sock.expects(task_id):
                    continue
                expected[sock.kind] = expected.get(sock.kind, 0) + 1
                at = sock.received.get(version)
                if at is None:
                    missing[sock.kind] = missing.get(sock.kind, 0) + 1
                else:
                    mine.setdefault(version, []).append(at)
        return {
            "event": "arrivals",
            "arrivals": arrivals,
            "expected": expected,
            "missing": missing,
            "closed": sum(1 for s in self.sockets if s.close_code is not None),
            "close_codes": sorted({s.close_code for s in self.sockets if s.close_code}),
        }

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.open), return_exceptions=True)


async def main() -> None:
    config = await read_line()
    if config is None:
        return
    fleet = Fleet(config)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        tasks = [asyncio.create_task(fleet.follow(http, sock)) for sock in fleet.sockets]
        caught_up = asyncio.create_task(fleet.all_caught_up.wait())
        try:
            await asyncio.wait([caught_up, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and (error := task.exception()) is not None:
                    raise error
            emit(
                {
                    "event": "ready",
                    "connected": len(fleet.open),
                    "seconds": time.monotonic() - started,
                }
            )
            command = await read_line()
            if command is not None:
                commits = [(int(v), str(t)) for v, t in command["drain"]]
                fleet.expect(commits)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fleet.all_drained.wait(), command["timeout_s"])
                emit(fleet.report(commits))
                await read_line()  # the parent closes our stdin when it is done with us
        except Exception as exc:
            emit({"event": "error", "message": repr(exc)[:2000]})
        finally:
            caught_up.cancel()
            await fleet.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
