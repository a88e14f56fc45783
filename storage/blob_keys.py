"""Blob keys and the errors of every blob store (storage.blobs, storage.s3_blobs,
storage.blob_urls): what a safe key is, and what a store refuses.

A key is `/`-separated segments of letters, digits, `.`, `_` and `-`, none
starting with a dot (so no `..`, no hidden names) and never absolute.
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 300
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]*$")


class BlobError(Exception):
    """Base of the blob store's errors."""


class InvalidBlobKey(BlobError, ValueError):
    """The key is not a safe relative path inside the store."""


class BlobNotFound(BlobError, KeyError):
    """No blob under that key."""


class BlobTooLarge(BlobError):
    """A streamed blob passed its limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the blob is larger than {limit} bytes")
        self.limit = limit


class BlobSizeMismatch(BlobError):
    """A signed upload ended before its signed size; nothing was stored."""

    def __init__(self, expected: int, received: int) -> None:
        super().__init__(f"the upload ended after {received} of its {expected} bytes")
        self.expected = expected
        self.received = received


def check_key(key: str) -> str:
    """`key` if it is a safe relative key, else InvalidBlobKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidBlobKey(f"a blob key has 1 to {MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.match(segment) for segment in key.split("/")):
        raise InvalidBlobKey(
            f"{key!r} is not a relative key of letters, digits, '.', '_', '-' "
            "segments (none empty or starting with '.')"
        )
    return key
