"""The skeleton of an owned WebSocket, shared by /sync/ws and /sync/yjs.

One handler task owns the socket and is its only reader. `handle` runs the
endpoint's flow (authenticate, count the socket in, serve) and closes the
socket whatever happens: a `Refused` raised anywhere in the flow closes it
with its code and reason. `counted` holds the socket under the tenant's and
the process's caps (caps.py; 4429 past them). `serve` runs the reader and the
endpoint's helper tasks (a sender, a streamer, the token's expiry) until the
reader ends or someone asks the socket to close (`request_close`, from any
task: the per-user cap, deactivation, shutdown, a slow reader); then it
cancels and awaits the helpers, sends the close frame, and lets the reader
see it. The reader is never cancelled inside `receive()`: aiohttp treats
that as an abnormal closure (1006) and drops the connection before the close
frame is out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from syncd.auth.principal import Principal
from syncd.sockets.caps import SOCKET_CAPS
from syncd.sockets.close import Close, Refused

CLOSE_WAIT_S = 5.0  # for a close frame to go out, and for the reader to see the answer

Work = Coroutine[Any, Any, None]


class OwnedSocket:
    """A WebSocket, its close request and the tasks it owns."""

    kind = "ws"  # names the socket's tasks

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request = request
        self.ws = ws
        self.who: Principal | None = None
        self.opened = time.monotonic_ns()  # the per-user cap closes the oldest first
        self.superseded = False
        self.closing = False
        self.finished = asyncio.Event()  # set once the socket is served and left
        self._close_request: tuple[int, str] | None = None
        self._close_requested = asyncio.Event()

    def request_close(self, code: int, message: str) -> None:
        """Ask the handler task to close the socket (the first request's code wins)."""
        if self._close_request is None:
            self._close_request = (code, message)
        self._close_requested.set()

    async def close(self, code: int, message: str) -> None:
        """Send the close frame (once); abort the connection if the peer takes none."""
        if self.closing or self.ws.closed:
            return
        self.closing = True
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), CLOSE_WAIT_S)
        except TimeoutError:  # the peer reads nothing, not even a close frame
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    async def handle(self, flow: Work) -> None:
        """Run the endpoint's flow; close with a `Refused`'s code; close in any case."""
        try:
            await flow
        except Refused as refused:
            await self.close(refused.code, refused.reason)
        finally:
            self.finished.set()
            if not self.ws.closed:
                await self.ws.close()

    @contextlib.asynccontextmanager
    async def counted(self, who: Principal) -> AsyncIterator[None]:
        """Hold one of the tenant's and the process's sockets, or refuse (4429)."""
        caps = self.request.app.get(SOCKET_CAPS)
        if caps is None:
            yield
            return
        refused = caps.open(who.tenant_id)
        if refused is not None:
            raise Refused(Close.TOO_SLOW, refused)
        try:
            yield
        finally:
            caps.close(who.tenant_id)

    async def serve(self, reader: Work, **helpers: Work) -> None:
        """Serve until the reader ends or a close is requested; then stop in order."""
        read = asyncio.create_task(reader, name=f"{self.kind}-reader")
        tasks = [asyncio.create_task(w, name=f"{self.kind}-{n}") for n, w in helpers.items()]
        waiter = asyncio.create_task(self._close_requested.wait(), name=f"{self.kind}-close-wait")
        try:
            await asyncio.wait({read, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, waiter):
                task.cancel()
            for task in (*tasks, waiter):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self._close_request is not None:
                await self.close(*self._close_request)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(read, CLOSE_WAIT_S)

    async def expiry(self) -> None:
        """A helper: close with 4401 when the principal's token runs out."""
        assert self.who is not None
        await asyncio.sleep(max(0.0, self.who.token_expires_at - time.time()))
        self.request_close(Close.TOKEN, "token expired; refresh and reconnect")
