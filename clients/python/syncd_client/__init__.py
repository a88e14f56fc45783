"""syncd_client: a reference offline-first client of syncd, in Python.

A device keeps a SQLite replica of the rows it may see and an outbox of its
own changes (`LocalStore`), stamps changes with its hybrid logical clock, and
syncs through `SyncClient`: push with idempotent batch ids and retries (back-off
with jitter), pull or a live WebSocket with cursor resume, token refresh, and a
conflict callback. Every step is one SQLite transaction, so the process may be
killed between any two steps. Wire types and the clock come from `protocol`.
See clients/python/README.md.
"""

from syncd_client.backoff import Backoff, GaveUp, RetryPolicy
from syncd_client.client import ConflictCallback, RejectedCallback, SyncClient
from syncd_client.errors import (
    AuthenticationRequired,
    ProblemError,
    ProtocolViolation,
    SyncClientError,
    TransientError,
)
from syncd_client.media import MediaQueue, QueuedMedia
from syncd_client.session import Credentials
from syncd_client.store import Acknowledged, LocalStore, PendingBatch, Tokens

__all__ = [
    "Acknowledged",
    "AuthenticationRequired",
    "Backoff",
    "ConflictCallback",
    "Credentials",
    "GaveUp",
    "LocalStore",
    "MediaQueue",
    "PendingBatch",
    "ProblemError",
    "ProtocolViolation",
    "QueuedMedia",
    "RejectedCallback",
    "RetryPolicy",
    "SyncClient",
    "SyncClientError",
    "Tokens",
    "TransientError",
]
