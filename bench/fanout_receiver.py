"""The receiving side of bench/live_fanout.py: one process holding many `/sync/ws` sockets.

Talks JSON lines with its parent. Reads a config line (`url`, `token`,
`cursor`, `count`, `first`, optional `prefix`), opens `count` sockets as
devices `<prefix>-<first + i>`, sends each a hello with the cursor, and
answers `{"event": "ready", ...}` once every socket has had `caught_up`. Then
it records, for every change frame, the monotonic time it was read. On
`{"drain": [change ids], "timeout_s": t}` it waits until every socket has
received every one of those changes (or t seconds), answers `{"event":
"arrivals", "arrivals": {change id: [times]}, ...}`, closes its sockets and
exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
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


class Fleet:
    """The sockets of this process and what they received."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        self.token: str = config["token"]
        self.cursor: str = config["cursor"]
        self.count: int = config["count"]
        self.first: int = config["first"]
        self.prefix: str = config.get("prefix", "fan")
        self.arrivals: dict[str, list[float]] = {}
        self.received: list[list[str]] = [[] for _ in range(self.count)]
        self.expected: set[str] | None = None
        self.missing = [0] * self.count
        self.short = self.count  # sockets still missing an expected change
        self.caught_up = 0
        self.all_caught_up = asyncio.Event()
        self.all_drained = asyncio.Event()
        self.close_codes: list[int] = []
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.gate = asyncio.Semaphore(CONNECTING_AT_ONCE)

    async def follow(self, http: aiohttp.ClientSession, index: int) -> None:
        async with self.gate:
            ws = await http.ws_connect(
                self.url, protocols=("syncd.v1", f"bearer.{self.token}"), max_msg_size=0
            )
            self.sockets.append(ws)
            hello = {
                "type": "hello",
                "client_id": f"{self.prefix}-{self.first + index}",
                "cursor": self.cursor,
            }
            await ws.send_str(json.dumps(hello))
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"socket {index} ended before caught_up: {message}")
                if json.loads(message.data)["type"] == "caught_up":
                    break
        self.caught_up += 1
        if self.caught_up == self.count:
            self.all_caught_up.set()
        while True:
            message = await ws.receive()
            at = time.monotonic()  # before any parsing: the frame is here
            if message.type is not aiohttp.WSMsgType.TEXT:
                if ws.close_code is not None:
                    self.close_codes.append(ws.close_code)
                return
            frame = json.loads(message.data)
            if frame["type"] != "changes":
                continue
            for change in frame["changes"]:
                self.arrivals.setdefault(change["id"], []).append(at)
                if self.expected is None:
                    self.received[index].append(change["id"])
                elif change["id"] in self.expected:
                    self.arrived(index)

    def expect(self, ids: list[str]) -> None:
        """From now on, count down the changes each socket still lacks."""
        self.expected = set(ids)
        self.short = 0
        for index, received in enumerate(self.received):
            self.missing[index] = len(self.expected - set(received))
            self.short += self.missing[index] > 0
        self.received = []
        if self.short == 0:
            self.all_drained.set()

    def arrived(self, index: int) -> None:
        self.missing[index] -= 1
        if self.missing[index] == 0:
            self.short -= 1
            if self.short == 0:
                self.all_drained.set()

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def main() -> None:
    config = await read_line()
    if config is None:
        return
    fleet = Fleet(config)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        tasks = [asyncio.create_task(fleet.follow(http, i)) for i in range(fleet.count)]
        caught_up = asyncio.create_task(fleet.all_caught_up.wait())
        try:
            await asyncio.wait([caught_up, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done() and (error := task.exception()) is not None:
                    raise error
            emit(
                {
                    "event": "ready",
                    "connected": len(fleet.sockets),
                    "seconds": time.monotonic() - started,
                }
            )
            command = await read_line()
            if command is not None:
                fleet.expect(command["drain"])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fleet.all_drained.wait(), command["timeout_s"])
                emit(
                    {
                        "event": "arrivals",
                        "arrivals": fleet.arrivals,
                        "closed": sum(1 for t in tasks if t.done()),
                        "close_codes": sorted(set(fleet.close_codes)),
                    }
                )
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
