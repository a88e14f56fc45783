"""The local blob store's signed URLs, served by syncd (the embedded S3 stand-in).

    PUT /blobs/upload?key=&exp=&ct=&size=&sig=    public: the signature is the authority
        200 stored; 403 signature_invalid (bad signature or key, or a body of another
        Content-Type than signed), 403 url_expired, 413 upload_too_large (longer than
        signed), 400 upload_incomplete (shorter); nothing is stored unless it all holds.
    GET /blobs/download?key=&exp=[&ct=]&sig=      public: the blob, streamed
        403 as above, 404 blob_not_found

The body streams to disk chunk by chunk (never held in memory) and is exempt
from MAX_BODY_BYTES: its signed size is its limit. When blobs live in S3 these
routes answer 404: the URLs handed out are S3's.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from storage.blob_urls import BlobUrlError, attachment
from storage.blobs import (
    CHUNK_BYTES,
    BlobNotFound,
    BlobSizeMismatch,
    BlobTooLarge,
    InvalidBlobKey,
    LocalBlobStore,
)
from syncd import appkeys
from syncd.auth.permissions import public
from syncd.i18n import Msg
from syncd.media.service import CONTENT_TYPES
from syncd.openapi import Binary, describe
from syncd.web import keys
from syncd.web.boundary import paced
from syncd.web.middlewares import REQUEST_ID_HEADER, own_body_limit, security_headers
from syncd.web.problems import BadRequest, Forbidden, NotFound, PayloadTooLarge

routes = web.RouteTableDef()


class SignatureInvalid(Forbidden):
    code = "signature_invalid"
    title = "The URL's signature is not valid"


class UrlExpired(Forbidden):
    code = "url_expired"
    title = "The URL has expired"


class BlobUploadTooLarge(PayloadTooLarge):
    code = "upload_too_large"
    title = "The upload is too large"


class UploadIncomplete(BadRequest):
    code = "upload_incomplete"
    title = "The upload ended before its signed size"


class BlobMissing(NotFound):
    code = "blob_not_found"
    title = "No such blob"


class BlobUploadQuery(BaseModel):
    key: str = Field(description="the blob's key")
    exp: str = Field(description="expiry, seconds since the epoch")
    ct: str = Field(description="the Content-Type the body must be sent as")
    size: str = Field(description="the body's exact length in bytes")
    sig: str = Field(description="HMAC-SHA256 over the other terms")


class BlobDownloadQuery(BaseModel):
    key: str = Field(description="the blob's key")
    exp: str = Field(description="expiry, seconds since the epoch")
    ct: str | None = Field(None, description="the Content-Type the blob is served as")
    fn: str | None = Field(
        None, description="served as an attachment of this file name (Content-Disposition)"
    )
    sig: str = Field(description="HMAC-SHA256 over the other terms")


class BlobStored(BaseModel):
    """Stored."""

    size: int


BLOB = Binary(("application/octet-stream", *CONTENT_TYPES), "The blob's bytes")


def _local_store(request: web.Request) -> LocalBlobStore:
    store = request.app[appkeys.BLOBS]
    if not isinstance(store, LocalBlobStore) or store.signer is None:
        raise NotFound(Msg("this server hands out its blob store's own URLs"))
    return store


def _refused(exc: BlobUrlError | InvalidBlobKey) -> Forbidden:
    # The storage layer's sentence: Arabic where the catalog has it (the fixed
    # ones); those naming a term or a value stay English.
    if isinstance(exc, BlobUrlError) and exc.code == UrlExpired.code:
        return UrlExpired(str(exc))
    return SignatureInvalid(str(exc))


@routes.put("/blobs/upload")
@public
@own_body_limit
@describe(
    summary="Upload to a signed URL of the local blob store",
    query=BlobUploadQuery,
    body=BLOB,
    responses={200: BlobStored},
    problems=[SignatureInvalid, UrlExpired, BlobUploadTooLarge, UploadIncomplete, NotFound],
)
async def upload_blob(request: web.Request) -> web.Response:
    store = _local_store(request)
    try:
        size = await store.accept_upload(
            request.query,
            request.headers.get("Content-Type", ""),
            request.content_length,
            paced(request, CHUNK_BYTES),
        )
    except (BlobUrlError, InvalidBlobKey) as exc:
        raise _refused(exc) from None
    except BlobTooLarge as exc:
        raise BlobUploadTooLarge(
            Msg("the URL was signed for {limit} bytes", limit=exc.limit)
        ) from None
    except BlobSizeMismatch as exc:
        raise UploadIncomplete(
            Msg(
                "the upload ended after {received} of its {expected} bytes",
                received=exc.received,
                expected=exc.expected,
            )
        ) from None
    return web.json_response({"size": size})


@routes.get("/blobs/download")
@public
@describe(
    summary="Download from a signed URL of the local blob store",
    query=BlobDownloadQuery,
    responses={200: BLOB},
    problems=[SignatureInvalid, UrlExpired, BlobMissing, NotFound],
)
async def download_blob(request: web.Request) -> web.StreamResponse:
    store = _local_store(request)
    try:
        signed = store.verify_download(request.query)
        size = await store.size(signed.key)
        async with store.open(signed.key) as chunks:
            response = web.StreamResponse(
                headers={
                    **security_headers(request.app[appkeys.SETTINGS]),
                    REQUEST_ID_HEADER: request[keys.REQUEST_ID],
                    "Cache-Control": "private, max-age=300",
                }
            )
            response.content_type = signed.content_type or "application/octet-stream"
            if signed.file_name is not None:
                response.headers["Content-Disposition"] = attachment(signed.file_name)
            response.content_length = size
            await response.prepare(request)
            if request.method != "HEAD":  # aiohttp would send a HEAD's body
                async for chunk in chunks:
                    await response.write(chunk)
    except (BlobUrlError, InvalidBlobKey) as exc:
        raise _refused(exc) from None
    except BlobNotFound:
        raise BlobMissing(Msg("nothing is stored under this URL's key")) from None
    await response.write_eof()
    return response
