"""A fault-injecting TCP proxy on loopback, for tests of clients on bad networks.

`FaultProxy` listens on a free loopback port and forwards every connection
to the server's port (or, given several, to each in turn, as a load balancer
would), chunk by chunk, both ways. On the way it may, with the
probabilities of its `Faults` and a seeded RNG:

- cut a connection mid-request: forward part of a client->server chunk, then
  reset both sides (the server sees half a request, or half a frame);
- cut a connection mid-response: the same on a server->client chunk (the
  server did the work; the client never hears the answer);
- delay a chunk;
- cut a WebSocket (a connection that asked for an upgrade) after a random
  lifetime.

It never sends a byte twice or invents one: any duplicate the server sees is a
client's retry. A server that is down (killed) shows as connections reset at
once. `counts` says how many faults of each kind it injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Faults:
    drop_request: float = 0.0  # per client->server chunk
    drop_response: float = 0.0  # per server->client chunk
    delay: float = 0.0  # per chunk
    max_delay_s: float = 0.2
    ws_cut: float = 0.0  # per WebSocket connection
    ws_max_life_s: float = 10.0

    @classmethod
    def none(cls) -> Faults:
        return cls()


class FaultProxy:
    """`async with FaultProxy(upstream_port, faults, seed) as proxy:` then use `proxy.port`."""

    def __init__(
        self,
        upstream_port: int | Sequence[int],
        faults: Faults | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        ports = [upstream_port] if isinstance(upstream_port, int) else list(upstream_port)
        self.upstreams = itertools.cycle([(host, port) for port in ports])
        self.host = host
        self.faults = faults or Faults()
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._links: set[_Link] = set()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in self._links:  # cut, not cancel: start_server's callback owns the task
            link.cut.set()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def injected(self) -> int:
        """Faults injected so far, of every kind."""
        kinds = ("dropped_request", "dropped_response", "delayed", "ws_cut")
        return sum(self.counts[k] for k in kinds)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self.counts["connections"] += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*next(self.upstreams))
        except OSError:
            self.counts["upstream_refused"] += 1
            _abort(client_writer)
            return
        link = _Link()
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(client_reader, server_writer, "request", link)),
            asyncio.create_task(self._pump(server_reader, client_writer, "response", link)),
        ]
        waiter = asyncio.create_task(link.cut.wait())
        try:
            pending: set[asyncio.Task[Any]] = set(pumps)
            while pending and not link.cut.is_set():
                _, pending = await asyncio.wait({*pending, waiter}, return_when="FIRST_COMPLETED")
                pending.discard(waiter)
        finally:
            self._links.discard(link)
            link.over = True
            if link.timer is not None:
                link.timer.cancel()
            for task in (*pumps, waiter):
                task.cancel()
            await asyncio.gather(*pumps, waiter, return_exceptions=True)
            for writer in (client_writer, server_writer):
                if link.cut.is_set() or link.broken:
                    _abort(writer)
                else:
                    _close(writer)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
        link: _Link,
    ) -> None:
        faults, rng = self.faults, self.rng
        drop = faults.drop_request if direction == "request" else faults.drop_response
        first = True
        while not link.cut.is_set():
            try:
                chunk = await reader.read(CHUNK)
            except OSError:
                link.broken = True
                return
            if not chunk:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
                return
            if first and direction == "request" and b"upgrade: websocket" in chunk.lower():
                self._schedule_ws_cut(link)
            first = False
            if faults.delay and rng.random() < faults.delay:
                self.counts["delayed"] += 1
                await asyncio.sleep(rng.uniform(0, faults.max_delay_s))
            if drop and rng.random() < drop:
                self.counts[f"dropped_{direction}"] += 1
                writer.write(chunk[: rng.randrange(len(chunk))])
                link.cut.set()
                return
            try:
                writer.write(chunk)
                await writer.drain()
            except OSError:
                link.broken = True
                return

    def _schedule_ws_cut(self, link: _Link) -> None:
        if not self.faults.ws_cut or self.rng.random() >= self.faults.ws_cut:
            return
        life = self.rng.uniform(0.2, self.faults.ws_max_life_s)

        def fire() -> None:
            if not link.over and not link.cut.is_set():
                self.counts["ws_cut"] += 1
                link.cut.set()

        link.timer = asyncio.get_running_loop().call_later(life, fire)


@dataclass(slots=True, eq=False)  # hashed by identity: the proxy keeps a set of them
class _Link:
    """One proxied connection's state, shared by its two pumps."""

    cut: asyncio.Event = field(default_factory=asyncio.Event)
    broken: bool = False
    over: bool = False
    timer: asyncio.TimerHandle | None = None


def _abort(writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()
