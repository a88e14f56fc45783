"""HMAC-SHA256-signed, expiring blob URLs: the local store's answer to S3 presigning.

A signed URL carries its terms in the query string and a signature over them:

    upload:   key, exp, ct, size, sig    PUT  <key> as <ct>, exactly <size> bytes
    download: key, exp, ct (optional), sig

`sig` is the unpadded URL-safe base64 of HMAC-SHA256(secret, message), where
the message is the method and the terms joined by newlines (a key or content
type can hold no newline, so no two terms' sets give one message). The
signature is checked before the expiry, so a URL whose `exp` was moved is
`SignatureInvalid`, and only an intact one past its time is `UrlExpired`.

    BlobUrlError (a BlobError)
    ├── SignatureInvalid: missing, malformed or altered terms, or another secret
    └── UrlExpired: intact, but past its `exp`
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from storage.blob_keys import BlobError, check_key

MAX_CONTENT_TYPE_LENGTH = 100
_ORDER = ("key", "exp", "ct", "fn", "size")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class BlobUrlError(BlobError):
    """A signed blob URL was refused."""

    code = "signature_invalid"


class SignatureInvalid(BlobUrlError):
    code = "signature_invalid"


class UrlExpired(BlobUrlError):
    code = "url_expired"


@dataclass(frozen=True, slots=True)
class SignedUpload:
    key: str
    expires_at: int
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class SignedDownload:
    key: str
    expires_at: int
    content_type: str | None
    file_name: str | None = None  # served as an attachment of this name


class UrlSigner:
    """Signs and checks the query terms of blob URLs with one secret."""

    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("a blob URL secret needs at least 16 bytes")
        self._secret = secret
        self._clock = clock

    def now(self) -> int:
        return int(self._clock())

    def sign_upload(
        self, key: str, content_type: str, size: int, expires_at: int
    ) -> dict[str, str]:
        terms = {"key": check_key(key), "exp": str(expires_at), "ct": _text(content_type)}
        terms["size"] = str(size)
        return {**terms, "sig": self._sign("PUT", terms)}

    def sign_download(
        self,
        key: str,
        expires_at: int,
        content_type: str | None = None,
        file_name: str | None = None,
    ) -> dict[str, str]:
        terms = {"key": check_key(key), "exp": str(expires_at)}
        if content_type is not None:
            terms["ct"] = _text(content_type)
        if file_name is not None:
            terms["fn"] = check_file_name(file_name)
        return {**terms, "sig": self._sign("GET", terms)}

    def verify_upload(self, query: Mapping[str, str]) -> SignedUpload:
        terms = self._verify("PUT", query, ("key", "exp", "ct", "size"))
        size = _integer(terms["size"])
        return SignedUpload(terms["key"], int(terms["exp"]), terms["ct"], size)

    def verify_download(self, query: Mapping[str, str]) -> SignedDownload:
        names = ("key", "exp", *(name for name in ("ct", "fn") if name in query))
        terms = self._verify("GET", query, names)
        return SignedDownload(terms["key"], int(terms["exp"]), terms.get("ct"), terms.get("fn"))

    def _verify(
        self, method: str, query: Mapping[str, str], names: tuple[str, ...]
    ) -> dict[str, str]:
        terms = {}
        for name in names:
            value = query.get(name)
            if value is None or value == "":
                raise SignatureInvalid(f"the URL lacks its {name!r} term")
            terms[name] = value
        given = query.get("sig", "")
        expected = self._sign(method, terms)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise SignatureInvalid("the URL's signature does not match its terms")
        if _integer(terms["exp"]) < self.now():
            raise UrlExpired("the URL has expired; ask for a new one")
        return terms

    def _sign(self, method: str, terms: Mapping[str, str]) -> str:
        lines = [f"{name}={terms[name]}" for name in _ORDER if name in terms]
        message = "\n".join([method, *lines])
        digest = hmac.new(self._secret, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def derive_secret(master: str, purpose: str = "blob-urls") -> bytes:
    """A secret for one purpose derived from a master secret (HMAC as a KDF)."""
    return hmac.new(master.encode(), f"syncd:{purpose}:v1".encode(), hashlib.sha256).digest()


def _text(value: str) -> str:
    if not value or len(value) > MAX_CONTENT_TYPE_LENGTH or "\n" in value:
        raise ValueError(f"{value!r} cannot be signed as a content type")
    return value


def check_file_name(name: str) -> str:
    """`name` if it is a plain ASCII file name (safe in a Content-Disposition header)."""
    if not _FILE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain file name ([A-Za-z0-9._-], 1-100)")
    return name


def attachment(file_name: str) -> str:
    """The Content-Disposition of a download saved as `file_name`."""
    return f'attachment; filename="{check_file_name(file_name)}"'


def _integer(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        raise SignatureInvalid(f"{value!r} is not a signed number")
    return int(value)
