"""SyncClient: what an offline-first device does with syncd.

Local writes (`create`, `update`, `delete`, `act`, `add_event`) are durable when
they return: stamped by the device's hybrid logical clock and queued in the
store's outbox, with the version at which the device last saw the row as
`base_version`. Reads (`get`, `rows`) show the pulled rows with the queued
changes on top.

Sync, over HTTP (`push`, `pull`, `sync`) or a live socket (`run_live`):
the outbox goes out one batch at a time under a batch id saved before the
first send, retried with back-off and jitter until answered; pulled pages are
applied with their cursor in one transaction. Answers `conflict` and
`superseded` go to the `on_conflict` callback, `rejected` ones to
`on_rejected`, at least once: an answer is marked delivered only after its
callback returned, so a device killed in between hears it again after its
restart.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import ValidationError

from protocol import versions
from protocol.changes import Change, ChangeResult, Op, PulledChange
from protocol.merge import Outcome
from syncd_client.backoff import RetryPolicy, pause_unless_stopped
from syncd_client.errors import (
    AuthenticationRequired,
    ProblemError,
    ProtocolViolation,
    TransientError,
)
from syncd_client.fieldwork import FieldWork, GeoLike, plain_geo
from syncd_client.live import LiveConnection, TokenRejected, connect
from syncd_client.media import MediaQueue
from syncd_client.notes import TaskNotes
from syncd_client.session import REFRESH_MARGIN_S, Credentials, Session
from syncd_client.store import Acknowledged, LocalStore, PendingBatch
from syncd_client.transport import Transport
from syncd_client.view import seen_row, seen_rows

log = logging.getLogger("syncd_client")

RowId = uuid.UUID | str
ConflictCallback = Callable[[Acknowledged], Awaitable[None] | None]
RejectedCallback = ConflictCallback


class SyncClient(FieldWork):
    """One device (one client id, one store). Use as `async with SyncClient(...)`.

    The client owns the store it is given and closes it on exit.
    """

    def __init__(
        self,
        base_url: str,
        tenant: str,
        store: LocalStore,
        *,
        credentials: Credentials | None = None,
        on_conflict: ConflictCallback | None = None,
        on_rejected: RejectedCallback | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        batch_size: int = 100,
        pull_limit: int = 500,
        timeout_s: float = 30.0,
        push_timeout_s: float = 30.0,
        heartbeat_s: float = 20.0,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url
        self.tenant = tenant
        self.store = store
        self.on_conflict = on_conflict
        self.on_rejected = on_rejected
        self.retry = retry or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.batch_size = batch_size
        self.pull_limit = pull_limit
        self.timeout_s = timeout_s
        self.push_timeout_s = push_timeout_s
        self.heartbeat_s = heartbeat_s
        self.refresh_margin_s = refresh_margin_s
        self.stats: Counter[str] = Counter()
        self.outbox_changed = asyncio.Event()
        self.live = asyncio.Event()  # set while a live socket is caught up
        self.page_applied = asyncio.Event()  # set after each pulled page; clear it to wait
        self._credentials = credentials
        self._http = http
        self._own_http = http is None
        self._session: Session | None = None

    @property
    def client_id(self) -> str:
        return self.store.client_id

    # --- lifecycle ---------------------------------------------------------------

    async def start(self) -> SyncClient:
        if self._session is not None:
            raise RuntimeError("this client is already started")
        if self._http is None:
            self._http = aiohttp.ClientSession()
        transport = Transport(self.base_url, self.tenant, self._http, self.timeout_s)
        self._session = Session(
            transport,
            self.store,
            retry=self.retry,
            rng=self.rng,
            stats=self.stats,
            credentials=self._credentials,
            margin_s=self.refresh_margin_s,
        )
        await self.deliver()  # answers a crash kept from the callback
        return self

    async def close(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
        self._http = None
        self.store.close()

    async def __aenter__(self) -> SyncClient:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def http(self) -> aiohttp.ClientSession | None:
        """The HTTP client once started (None before)."""
        return self._http

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("start the client first (async with SyncClient(...))")
        return self._session

    @property
    def media(self) -> MediaQueue:
        """Photos and documents, uploaded through their own queue (syncd_client/media.py):
        `media.add(path, content_type, owner_type, owner_id)` offline, `media.upload()`
        when online; pushes never wait for it."""
        return MediaQueue(self.store, lambda: self.session)

    # --- local writes ------------------------------------------------------------

    def create(
        self, entity: str, fields: dict[str, Any], row_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Queue a new row (the id is the device's, a UUID); answers its id."""
        row_id = row_id or uuid.uuid4()
        self.queue(entity, row_id, Op.UPSERT, fields=fields)
        return row_id

    def update(self, entity: str, row_id: RowId, fields: dict[str, Any]) -> Change:
        return self.queue(entity, row_id, Op.UPSERT, fields=fields)

    def delete(self, entity: str, row_id: RowId) -> Change:
        return self.queue(entity, row_id, Op.DELETE)

    def act(
        self,
        task_id: RowId,
        action: str,
        *,
        user_id: uuid.UUID | None = None,
        reason: str | None = None,
        geo: GeoLike | None = None,
        client_time: datetime | None = None,
    ) -> Change:
        """Queue a task action (`start`, `pause`, ...; `assign` needs `user_id`, `reject`
        a `reason`); `geo` is a plain mapping `{"lat", "lng", "accuracy_m"}`."""
        fields = {"user_id": str(user_id)} if user_id is not None else {}
        return self.queue(
            "task",
            task_id,
            Op.ACTION,
            action=action,
            fields=fields,
            reason=reason,
            geo=plain_geo(geo),
            client_time=client_time,
        )

    def queue(self, entity: str, row_id: RowId, op: Op, **extra: Any) -> Change:
        row_id = uuid.UUID(str(row_id))

        def build(hlc: str, base_version: int) -> Change:
            return Change(
                entity=entity, id=row_id, op=op, hlc=hlc, base_version=base_version, **extra
            )

        change = self.store.enqueue(entity, row_id, build)
        self.stats["queued"] += 1
        self.outbox_changed.set()
        return change

    def notes(self, task_id: RowId) -> TaskNotes:
        """The task's collaborative notes: edited offline, synced live (notes.py)."""
        return TaskNotes(self, task_id)

    # --- reads ---------------------------------------------------------------------

    def get(self, entity: str, row_id: uuid.UUID | str) -> dict[str, Any] | None:
        """The row as the user sees it: as pulled, then the device's applied changes
        no pull has brought back yet, then its queued changes."""
        return seen_row(self.store, entity, row_id)

    def rows(self, entity: str) -> dict[str, dict[str, Any]]:
        """Every row of `entity` as the user sees it, by id."""
        return seen_rows(self.store, entity)

    # --- sync over HTTP ------------------------------------------------------------

    async def login(self, email: str, password: str) -> None:
        """Sign in; the client signs in again with these if its session ends."""
        await self.session.login(Credentials(email, password))

    async def push(self) -> int:
        """Send the outbox until it is empty; answers how many changes were answered."""
        answered = 0
        while (batch := self.store.next_batch(self.batch_size)) is not None:
            try:
                answer = await self.session.call(
                    "POST", "/sync/push", json_body=batch.body(self.client_id)
                )
            except ProblemError as exc:
                if exc.code != "batch_too_large" or len(batch) == 1:
                    raise
                self._shrink(batch)  # refused as a whole: nothing was recorded
                continue
            await self.complete(batch, _results(answer), str(answer.get("cursor", "")))
            answered += len(batch)
        return answered

    def _shrink(self, batch: PendingBatch) -> None:
        self.batch_size = max(1, len(batch) // 2)
        self.store.release_batch(batch.batch_id)

    async def pull(self) -> int:
        """Pull until caught up; answers how many changes were applied."""
        applied = 0
        while True:
            params = {
                "limit": str(self.pull_limit),
                "client_id": self.client_id,
                "schema": str(versions.CURRENT),
            }
            if self.store.cursor:
                params["since"] = self.store.cursor
            page = await self.session.call("GET", "/sync/pull", params=params)
            try:
                changes = [PulledChange.model_validate(c) for c in page["changes"]]
                cursor = str(page["cursor"])
            except (KeyError, TypeError, ValidationError) as exc:
                raise ProtocolViolation(f"a pull page that does not validate: {exc}") from None
            applied += self.store.apply_page(changes, cursor)
            self._count_page(len(changes))
            if not page.get("has_more"):
                return applied

    async def sync(self) -> tuple[int, int]:
        """Push, then pull: (changes answered, changes applied)."""
        return await self.push(), await self.pull()

    async def complete(self, batch: PendingBatch, results: list[ChangeResult], cursor: str) -> None:
        """Record a batch's answer, then hand conflicts to the callback."""
        acks = self.store.complete_batch(batch.batch_id, results, cursor)
        if acks:
            self.stats["batches"] += 1
        self.stats["pushed"] += len(acks)
        for ack in acks:
            self.stats[ack.status.value] += 1
        await self.deliver()

    async def deliver(self) -> int:
        """Hand each answer not yet taken to its callback; answers how many were taken."""
        waiting = self.store.undelivered()
        if not waiting:
            return 0
        taken: list[int] = []
        for ack in waiting:
            callback = self.on_rejected if ack.status is Outcome.REJECTED else self.on_conflict
            if callback is not None:
                try:
                    outcome = callback(ack)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:  # a failing callback hears the answer again later
                    log.exception("the %s callback failed on %s", ack.status, ack.change.get("id"))
                    continue
            taken.append(ack.seq)
        self.store.mark_delivered(taken)
        return len(taken)

    # --- live sync -----------------------------------------------------------------

    async def run_live(self, stop: asyncio.Event | None = None) -> None:
        """Stay connected to `/sync/ws` until `stop` is set, reconnecting with back-off.

        Pushes go over the socket; pages are applied as they come. Raises
        what cannot be fixed by reconnecting (ProblemError, ProtocolViolation,
        AuthenticationRequired, GaveUp).
        """
        stop = stop or asyncio.Event()
        backoff = self.retry.start(self.rng)
        refused = 0  # tokens refused in a row, without a connection that worked between
        while not stop.is_set():
            token = await self.session.access_token()
            connection: LiveConnection | None = None
            try:
                assert self._http is not None
                ws = await connect(
                    self._http,
                    self.session.transport,
                    token,
                    heartbeat_s=self.heartbeat_s,
                    timeout_s=self.timeout_s,
                )
                self.stats["connects"] += 1
                connection = LiveConnection(
                    ws,
                    self.store,
                    outbox=self.outbox_changed,
                    caught_up=self.live,
                    complete=self.complete,
                    batch_size=self.batch_size,
                    push_timeout_s=self.push_timeout_s,
                    on_page=self._count_page,
                )
                await connection.run(stop)
            except TokenRejected as exc:
                self.stats["token_rejected"] += 1
                refused = 0 if self.live.is_set() else refused + 1
                if refused > 2:
                    problem = {"code": "token_refused", "detail": str(exc)}
                    raise AuthenticationRequired(401, problem) from exc
                await self.session.refresh(stale=token)
            except TransientError as exc:
                self.stats["reconnects"] += 1
                if self.live.is_set():
                    backoff.reset()  # that connection worked; this is a new failure
                await pause_unless_stopped(backoff, exc, stop)
            finally:
                self.live.clear()

    def _count_page(self, applied: int) -> None:
        self.stats["pulled"] += applied
        self.page_applied.set()


def _results(answer: dict[str, Any]) -> list[ChangeResult]:
    try:
        return [ChangeResult.model_validate(r) for r in answer["results"]]
    except (KeyError, TypeError, ValidationError) as exc:
        raise ProtocolViolation(f"a push answer that does not validate: {exc}") from None
