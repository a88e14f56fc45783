"""One HTTP exchange with syncd: JSON in, JSON out, failures in the error tree.

Every transport failure is translated here, once: connection errors,
timeouts, a cut mid-answer, 408, 429 and 5xx become TransientError (with the
server's `Retry-After`, if any); any other 4xx becomes a ProblemError carrying
the RFC 9457 body; a 2xx that is not a JSON object is a ProtocolViolation.
Nothing here retries: that is the caller's decision (see session.py).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from yarl import URL

from syncd_client.errors import ProblemError, ProtocolViolation, TransientError

RETRYABLE_STATUS = frozenset({408, 425, 429})


class Transport:
    """HTTP to one syncd tenant; the aiohttp session is the caller's."""

    def __init__(
        self,
        base_url: str,
        tenant: str,
        http: aiohttp.ClientSession,
        timeout_s: float = 30.0,
        user_agent: str = "syncd-client",
    ) -> None:
        self.base_url = URL(base_url.rstrip("/") + "/")
        self.tenant = tenant
        self.http = http
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.user_agent = user_agent

    def url(self, path: str) -> URL:
        return self.base_url.join(URL(path.lstrip("/")))

    def ws_url(self, path: str) -> URL:
        url = self.url(path)
        return url.with_scheme("wss" if url.scheme == "https" else "ws")

    def headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"X-Tenant": self.tenant, "User-Agent": self.user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One attempt; the answer's JSON object, or an error of the tree."""
        try:
            async with self.http.request(
                method,
                self.url(path),
                json=json_body,
                params=params,
                headers=self.headers(token),
                timeout=self.timeout,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        body = _json(raw)
        if status >= 500 or status in RETRYABLE_STATUS:
            raise TransientError(f"{method} {path}: HTTP {status}", _seconds(retry_after))
        if status >= 400:
            text = raw[:200].decode(errors="replace")
            problem = body if isinstance(body, dict) else {"detail": text}
            raise ProblemError(status, problem)
        if not isinstance(body, dict):
            raise ProtocolViolation(f"{method} {path}: HTTP {status} without a JSON object")
        return body


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off
