"""The client's error tree, translated once from what the transport saw.

    SyncClientError
    ├── TransientError        network failure, timeout, 429 or 5xx: retry with back-off
    ├── GaveUp                `RetryPolicy.max_attempts` attempts failed (backoff.py)
    ├── ProblemError          the server answered an RFC 9457 problem (branch on `code`)
    │   └── AuthenticationRequired   no token works any more: sign in again
    └── ProtocolViolation     an answer this client cannot use (a server or client bug)

Only TransientError is retried by the client; the others reach the caller.
"""

from __future__ import annotations

from typing import Any


class SyncClientError(Exception):
    """Base of every error the client raises on purpose."""


class TransientError(SyncClientError):
    """Worth retrying: the request may or may not have reached the server."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProblemError(SyncClientError):
    """The server refused the request with a problem document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code") or f"http_{status}")
        detail = problem.get("detail") or problem.get("title") or ""
        super().__init__(f"{status} {self.code}: {detail}".rstrip(": "))


class AuthenticationRequired(ProblemError):
    """The session has ended (refresh refused, no credentials to sign in again)."""


class ProtocolViolation(SyncClientError):
    """The server's answer does not fit the protocol (or the client broke it)."""
