"""The inbox's live update: `GET /console/inbox/events`, server-sent events.

An open inbox page listens here (EventSource, console.js). The stream sends
`event: conflicts` with `{"open": n, "mark": "..."}` whenever the inbox's
watermark moves (a conflict opened or resolved), and the page reloads its rows
(`/console/inbox/rows`). It wakes when the tenant's hub hears of a change
(any process, over Redis when configured), when this process resolves a
conflict, or every RECHECK_S at the latest (a conflict that changed no row
publishes nothing); bursts are coalesced to one check per MIN_GAP_S. At each
wake it re-checks the session: a signed-out, deactivated or expired session
gets `event: signed-out` and the stream ends.

Bounded: MAX_STREAMS_PER_USER streams per person and process (a newer one ends
the oldest); every stream ends at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator

import structlog
from aiohttp import web

from syncd import appkeys
from syncd.auth.permissions import Permission
from syncd.auth.principal import Principal
from syncd.console.forms import page
from syncd.console.render import PAGE_HEADERS
from syncd.console.session import session_claims
from syncd.hub import InProcessHub
from syncd.web.keys import principal
from syncd.web.middlewares import security_headers
from syncd.web.problems import Problem

log = structlog.get_logger("syncd.console")
routes = web.RouteTableDef()

RECHECK_S = 15.0
MIN_GAP_S = 0.25
MAX_STREAMS_PER_USER = 4
RETRY_MS = 3000  # how long a browser waits before it reconnects


class Stream:
    """One open event stream: woken by hints, ended by a newer stream or shutdown."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.ended = False

    def poke(self, _version: int = 0) -> None:
        self.wake.set()

    def end(self) -> None:
        self.ended = True
        self.wake.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a hint, at most `timeout_s`; answer whether the stream goes on."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout_s)
        return not self.ended


class ConsoleStreams:
    """Every open console stream of this process, by person."""

    def __init__(self, hub: InProcessHub) -> None:
        self.hub = hub
        self._by_user: dict[tuple[uuid.UUID, uuid.UUID], list[Stream]] = {}

    @contextlib.contextmanager
    def open(self, who: Principal) -> Iterator[Stream]:
        stream = Stream()
        key = (who.tenant_id, who.user_id)
        mine = self._by_user.setdefault(key, [])
        mine.append(stream)
        while len(mine) > MAX_STREAMS_PER_USER:
            mine.pop(0).end()
        unsubscribe = self.hub.subscribe(who.tenant_id, stream.poke)
        try:
            yield stream
        finally:
            unsubscribe()
            if stream in mine:
                mine.remove(stream)
            if not mine:
                self._by_user.pop(key, None)

    def nudge(self, tenant_id: uuid.UUID) -> None:
        """Wake the tenant's streams (a resolution here, which may have logged nothing)."""
        for (tenant, _user), streams in self._by_user.items():
            if tenant == tenant_id:
                for stream in streams:
                    stream.poke()

    def close_all(self) -> None:
        for streams in list(self._by_user.values()):
            for stream in list(streams):
                stream.end()

    @property
    def count(self) -> int:
        return sum(len(streams) for streams in self._by_user.values())


STREAMS: web.AppKey[ConsoleStreams] = web.AppKey("console_streams", ConsoleStreams)


def event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _still_signed_in(request: web.Request) -> bool:
    try:
        await request.app[appkeys.AUTH].principal_for(session_claims(request))
    except Problem:
        return False
    return True


@routes.get("/console/inbox/events")
@page(Permission.CONFLICTS_MANAGE)
async def inbox_events(request: web.Request) -> web.StreamResponse:
    who = principal(request)
    response = web.StreamResponse(
        headers={
            **security_headers(request.app[appkeys.SETTINGS]),
            **PAGE_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    try:
        await _stream(request, response, who)
    except ConnectionResetError:
        pass  # the page went away
    except Exception:  # the headers are sent: end the stream; the browser reconnects
        log.exception("console event stream failed", path=request.path)
    return response


async def _stream(request: web.Request, response: web.StreamResponse, who: Principal) -> None:
    app = request.app
    with app[STREAMS].open(who) as stream:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        last: tuple[int, str | None] | None = None
        while True:
            stream.wake.clear()
            mark = await app[appkeys.INBOX].watermark(who)
            if mark != last:
                await response.write(event("conflicts", {"open": mark[0], "mark": mark[1]}))
                last = mark
            else:
                await response.write(b": still here\n\n")
            if not await stream.wait(RECHECK_S):
                break
            await asyncio.sleep(MIN_GAP_S)  # let a burst of pushes settle into one check
            if not await _still_signed_in(request):
                await response.write(event("signed-out", {}))
                break


async def close_streams(app: web.Application) -> None:
    """On shutdown, end every console stream (before the server waits for handlers)."""
    if STREAMS in app:
        app[STREAMS].close_all()
