"""HMAC-signed blob URLs: round trip, every tampered term, another secret, expiry,
and the local store's acceptance of a signed upload (type, length, atomicity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from storage.blob_urls import SignatureInvalid, UrlExpired, UrlSigner, derive_secret
from storage.blobs import BlobSizeMismatch, BlobTooLarge, InvalidBlobKey, LocalBlobStore

SECRET = derive_secret("x" * 48)
KEY = "tenants/7d0c/media/1"
NOW = 1_800_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(clock: Clock | None = None, secret: bytes = SECRET) -> UrlSigner:
    return UrlSigner(secret, clock=clock or Clock())


def test_upload_terms_round_trip() -> None:
    query = signer().sign_upload(KEY, "image/png", 1234, NOW + 60)
    signed = signer().verify_upload(query)
    assert (signed.key, signed.expires_at, signed.content_type, signed.size) == (
        KEY,
        NOW + 60,
        "image/png",
        1234,
    )


def test_download_terms_round_trip_with_and_without_type() -> None:
    typed = signer().verify_download(signer().sign_download(KEY, NOW + 5, "image/jpeg"))
    assert (typed.key, typed.content_type) == (KEY, "image/jpeg")
    untyped = signer().verify_download(signer().sign_download(KEY, NOW + 5))
    assert untyped.content_type is None


@pytest.mark.parametrize(
    ("term", "value"),
    [
        ("key", "tenants/7d0c/media/2"),
        ("exp", str(NOW + 10_000)),
        ("ct", "application/pdf"),
        ("size", "999999"),
        ("sig", "A" * 43),
    ],
)
def test_any_tampered_upload_term_is_refused(term: str, value: str) -> None:
    query = signer().sign_upload(KEY, "image/png", 1234, NOW + 60)
    with pytest.raises(SignatureInvalid):
        signer().verify_upload({**query, term: value})


@pytest.mark.parametrize("term", ["key", "exp", "ct", "size", "sig"])
def test_a_missing_term_is_refused(term: str) -> None:
    query = signer().sign_upload(KEY, "image/png", 1234, NOW + 60)
    del query[term]
    with pytest.raises(SignatureInvalid):
        signer().verify_upload(query)


def test_a_download_signature_does_not_open_an_upload() -> None:
    download = signer().sign_download(KEY, NOW + 60, "image/png")
    with pytest.raises(SignatureInvalid):
        signer().verify_upload({**download, "size": "10"})
    added_type = signer().sign_download(KEY, NOW + 60)
    with pytest.raises(SignatureInvalid):
        signer().verify_download({**added_type, "ct": "text/html"})


def test_another_secret_is_refused() -> None:
    query = signer().sign_upload(KEY, "image/png", 1, NOW + 60)
    other = signer(secret=derive_secret("y" * 48))
    with pytest.raises(SignatureInvalid):
        other.verify_upload(query)
    assert derive_secret("y" * 48) != derive_secret("y" * 48, "other-purpose")


def test_expiry_is_checked_after_the_signature() -> None:
    clock = Clock()
    query = signer(clock).sign_upload(KEY, "image/png", 1, NOW + 60)
    clock.now = NOW + 60
    assert signer(clock).verify_upload(query).size == 1  # valid through its last second
    clock.now = NOW + 61
    with pytest.raises(UrlExpired):
        signer(clock).verify_upload(query)
    with pytest.raises(SignatureInvalid):  # moving exp breaks the signature first
        signer(clock).verify_upload({**query, "exp": str(NOW + 3600)})
    with pytest.raises(UrlExpired):
        signer(clock).verify_download(signer(clock).sign_download(KEY, NOW))


def test_malformed_numbers_are_refused_not_crashing() -> None:
    for bad in ("-5", "1e9", "", " 12", "\uff19"):
        query = signer().sign_upload(KEY, "image/png", 1, NOW + 60)
        with pytest.raises(SignatureInvalid):
            signer().verify_upload({**query, "exp": bad})


def test_unsafe_keys_and_content_types_are_never_signed() -> None:
    with pytest.raises(InvalidBlobKey):
        signer().sign_upload("../etc/passwd", "image/png", 1, NOW)
    with pytest.raises(ValueError, match="content type"):
        signer().sign_upload(KEY, "image/png\nsize=1", 1, NOW)
    with pytest.raises(ValueError, match="16 bytes"):
        UrlSigner(b"short")


# --- LocalBlobStore: presigned URLs and accepting a signed upload ---------------------


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def local_store(tmp_path: Path, clock: Clock | None = None) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", signer=signer(clock))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def test_local_presigned_upload_is_accepted_once_whole(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    upload = await store.presign_upload(KEY, "image/png", 6, 60)
    assert upload.method == "PUT"
    assert upload.url.startswith("/blobs/upload?")
    assert upload.headers == {"Content-Type": "image/png", "Content-Length": "6"}
    assert upload.as_json() == {"method": "PUT", "url": upload.url, "headers": upload.headers}
    query = query_of(upload.url)
    assert await store.accept_upload(query, "image/png", 6, stream(b"abc", b"def")) == 6
    assert await store.read(KEY) == b"abcdef"
    download = await store.presign_download(KEY, 60, content_type="image/png")
    signed = store.verify_download(query_of(download))
    assert (signed.key, signed.content_type) == (KEY, "image/png")


async def test_local_upload_refuses_wrong_type_length_and_keeps_the_old_blob(
    tmp_path: Path,
) -> None:
    store = local_store(tmp_path)
    await store.put_bytes(KEY, b"old")
    query = query_of((await store.presign_upload(KEY, "image/png", 6, 60)).url)
    with pytest.raises(SignatureInvalid, match="signed for 'image/png'"):
        await store.accept_upload(query, "image/jpeg", 6, stream(b"abcdef"))
    with pytest.raises(BlobTooLarge):  # declared longer
        await store.accept_upload(query, "image/png", 7, stream(b"abcdefg"))
    with pytest.raises(BlobTooLarge):  # chunked, longer
        await store.accept_upload(query, "image/png", None, stream(b"abcd", b"efg"))
    with pytest.raises(BlobSizeMismatch):
        await store.accept_upload(query, "image/png", None, stream(b"abc"))
    assert await store.read(KEY) == b"old"
    assert sorted(
        p.name for p in (tmp_path / "blobs" / "tenants" / "7d0c" / "media").iterdir()
    ) == ["1"]


async def test_local_upload_url_expires(tmp_path: Path) -> None:
    clock = Clock()
    store = local_store(tmp_path, clock)
    query = query_of((await store.presign_upload(KEY, "image/png", 1, 30)).url)
    clock.now += 31
    with pytest.raises(UrlExpired):
        await store.accept_upload(query, "image/png", 1, stream(b"x"))
    assert not await store.exists(KEY)


async def test_a_store_without_a_signer_cannot_presign(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no URL signer"):
        await LocalBlobStore(tmp_path).presign_upload(KEY, "image/png", 1, 60)
