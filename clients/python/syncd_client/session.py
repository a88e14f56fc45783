"""Signed-in calls: tokens, their refresh, and retries with back-off.

The token pair lives in the store, so a restarted device goes on with its
session. An access token is refreshed (`POST /auth/refresh`) shortly before it
expires and again after any 401. Refresh tokens rotate: each is good once,
and the server answers a repeat within its grace period with the same
successor, so a refresh whose answer was lost is simply sent again. When the
server refuses the refresh (the session ended), the client signs in again if
it was given credentials, else raises AuthenticationRequired.

Concurrent callers share one refresh (a lock, and a check that the token is
still the stale one). Transient failures are retried with the client's
RetryPolicy; problems reach the caller.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncd_client.backoff import Backoff, GaveUp, RetryPolicy
from syncd_client.errors import AuthenticationRequired, ProblemError, TransientError
from syncd_client.store import LocalStore, Tokens
from syncd_client.transport import Transport

log = logging.getLogger("syncd_client")

REFRESH_MARGIN_S = 15.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client signs in with when its session has ended."""

    email: str
    password: str


async def pause(backoff: Backoff, failure: TransientError) -> float:
    """Sleep before the next attempt; GaveUp (caused by `failure`) past the limit."""
    try:
        delay = backoff.next_delay(failure.retry_after_s)
    except GaveUp as gave_up:
        raise gave_up from failure
    await asyncio.sleep(delay)
    return delay


class Session:
    def __init__(
        self,
        transport: Transport,
        store: LocalStore,
        *,
        retry: RetryPolicy,
        rng: random.Random,
        stats: Counter[str],
        credentials: Credentials | None = None,
        margin_s: float = REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.store = store
        self.retry = retry
        self.rng = rng
        self.stats = stats
        self.credentials = credentials
        self.margin_s = margin_s
        self.clock = clock
        self._lock = asyncio.Lock()
        self.last_failure: str | None = None  # the latest transient failure, for display

    async def login(self, credentials: Credentials | None = None) -> None:
        """Sign in (retrying transient failures) and keep the token pair."""
        credentials = credentials or self.credentials
        if credentials is None:
            raise AuthenticationRequired(401, {"code": "not_signed_in", "detail": "no credentials"})
        self.credentials = credentials
        body = {
            "email": credentials.email,
            "password": credentials.password,
            "client_id": self.store.client_id,
        }
        answer = await self._retrying("POST", "/auth/login", body)
        self._keep(answer)
        self.stats["logins"] += 1

    async def access_token(self) -> str:
        """A token good for at least `margin_s` more seconds (refreshed if needed)."""
        tokens = self.store.tokens()
        if tokens is None:
            await self.login()
            tokens = self.store.tokens()
            assert tokens is not None
        if tokens.access_expires_at - self.clock() < self.margin_s:
            return await self.refresh(stale=tokens.access_token)
        return tokens.access_token

    async def refresh(self, stale: str | None) -> str:
        """Trade the refresh token for a new pair, unless another caller just did."""
        async with self._lock:
            tokens = self.store.tokens()
            if tokens is not None and tokens.access_token != stale:
                return tokens.access_token
            if tokens is None:
                await self.login()
            else:
                try:
                    body = {"refresh_token": tokens.refresh_token}
                    self._keep(await self._retrying("POST", "/auth/refresh", body))
                    self.stats["refreshes"] += 1
                except ProblemError as exc:
                    if exc.status != 401 or self.credentials is None:
                        raise AuthenticationRequired(exc.status, exc.problem) from exc
                    self.stats["relogins"] += 1
                    await self.login()
            fresh = self.store.tokens()
            assert fresh is not None
            return fresh.access_token

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A signed-in request, retried until it is answered or a problem comes back."""
        backoff = self.retry.start(self.rng)
        refused = 0
        while True:
            token = await self.access_token()
            try:
                return await self.transport.request(
                    method, path, token=token, json_body=json_body, params=params
                )
            except TransientError as exc:
                self.stats["retries"] += 1
                self.last_failure = str(exc)
                log.debug("%s %s failed (%s); retrying", method, path, exc)
                await pause(backoff, exc)
            except ProblemError as exc:
                if exc.status != 401:
                    raise
                refused += 1
                if refused > 2:  # fresh tokens keep being refused: nothing more to try
                    raise AuthenticationRequired(exc.status, exc.problem) from exc
                await self.refresh(stale=token)

    async def _retrying(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        backoff = self.retry.start(self.rng)
        while True:
            try:
                return await self.transport.request(method, path, json_body=body)
            except TransientError as exc:
                self.stats["retries"] += 1
                await pause(backoff, exc)

    def _keep(self, answer: dict[str, Any]) -> None:
        expires_in = float(answer.get("expires_in") or 0)
        self.store.save_tokens(
            Tokens(
                str(answer["access_token"]),
                str(answer["refresh_token"]),
                self.clock() + expires_in,
            )
        )
