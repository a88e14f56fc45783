"""Media: photos and documents, uploaded straight to the blob store.

    POST /media/uploads              TASKS_WORK  201 (first call) or 200 (retry):
                                                 {media_id, upload, expires_at};
                                                 409 media_id_taken / media_mismatch /
                                                 media_already_uploaded, 413 upload_too_large,
                                                 403 owner_out_of_scope, 422 unknown_owner
    POST /media/{media_id}/complete  TASKS_WORK  the media, now uploaded; 422 upload_missing /
                                                 size_mismatch / type_mismatch / checksum_mismatch
    GET  /media/{media_id}           TASKS_READ  the media
    GET  /media/{media_id}/content   TASKS_READ  302 to a signed download URL;
                                                 409 media_not_uploaded
    GET  /media/{media_id}/thumbnail TASKS_READ  302 to the thumbnail; 404 thumbnail_not_ready

`upload` is `{method, url, headers}` (PUT: send the file as the body with
those headers) or `{method, url, fields}` (POST: a multipart form with the
fields, then the file as `file`). Media out of the caller's reach (another
tenant's, or for a technician a task not assigned to them) is 404
media_not_found. The use cases live in syncd.media.service.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from storage.models import MediaAsset
from syncd import appkeys
from syncd.auth.permissions import Permission, requires
from syncd.i18n import Msg
from syncd.media import service
from syncd.media.schemas import (
    MediaPath,
    MediaRead,
    MediaUploadCreate,
    MediaUploadCreated,
)
from syncd.media.service import MediaNotFound
from syncd.openapi import describe
from syncd.web.body import parse_body, path_uuid
from syncd.web.keys import principal

routes = web.RouteTableDef()


def media_read(media: MediaAsset) -> dict[str, Any]:
    base = f"/media/{media.id}"
    return {
        "id": str(media.id),
        "owner_type": media.owner_type,
        "owner_id": None if media.owner_id is None else str(media.owner_id),
        "content_type": media.content_type,
        "declared_size": media.declared_size,
        "size": media.size,
        "sha256": media.sha256,
        "status": media.status,
        "width": media.width,
        "height": media.height,
        "content_url": base + "/content" if media.status == "uploaded" else None,
        "thumbnail_url": base + "/thumbnail" if media.thumbnail_key else None,
        "created_by": None if media.created_by is None else str(media.created_by),
        "created_at": media.created_at.isoformat(),
        "completed_at": None if media.completed_at is None else media.completed_at.isoformat(),
        "version": media.version,
    }


def _absolute(request: web.Request, url: str) -> str:
    """A URL of our own (the local blob store's) made absolute for the client."""
    return f"{request.url.origin()}{url}" if url.startswith("/") else url


def _redirect(request: web.Request, url: str) -> web.Response:
    headers = {"Location": _absolute(request, url), "Cache-Control": "no-store"}
    return web.Response(status=302, headers=headers)


def media_id_of(request: web.Request) -> uuid.UUID:
    return path_uuid(
        request,
        "media_id",
        lambda raw: MediaNotFound(Msg("no media {media_id}", media_id=repr(raw))),
    )


@routes.post("/media/uploads")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Declare an upload and get a presigned URL for it",
    body=MediaUploadCreate,
    responses={201: MediaUploadCreated, 200: MediaUploadCreated},
    problems=[
        service.UploadTooLarge,
        service.MediaIdTaken,
        service.MediaMismatch,
        service.MediaAlreadyUploaded,
        service.OwnerOutOfScope,
        service.UnknownOwner,
    ],
)
async def declare_upload(request: web.Request) -> web.Response:
    body = await parse_body(request, MediaUploadCreate)
    presigned = await request.app[appkeys.MEDIA].declare(principal(request), body.declaration())
    upload = presigned.upload.as_json()
    upload["url"] = _absolute(request, upload["url"])
    answer = {
        "media_id": str(presigned.media_id),
        "upload": upload,
        "expires_at": presigned.expires_at.isoformat(),
    }
    return web.json_response(answer, status=201 if presigned.created else 200)


@routes.post("/media/{media_id}/complete")
@requires(Permission.TASKS_WORK)
@describe(
    summary="Check the uploaded file and mark the media uploaded",
    path=MediaPath,
    responses={200: MediaRead},
    problems=[
        MediaNotFound,
        service.UploadMissing,
        service.SizeMismatch,
        service.TypeMismatch,
        service.ChecksumMismatch,
    ],
)
async def complete_upload(request: web.Request) -> web.Response:
    media = await request.app[appkeys.MEDIA].complete(
        principal(request),
        media_id_of(request),
    )
    return web.json_response(media_read(media))


@routes.get("/media/{media_id}")
@requires(Permission.TASKS_READ)
@describe(
    summary="Read a media asset",
    path=MediaPath,
    responses={200: MediaRead},
    problems=[MediaNotFound],
)
async def get_media(request: web.Request) -> web.Response:
    media = await request.app[appkeys.MEDIA].get(
        principal(request),
        media_id_of(request),
    )
    return web.json_response(media_read(media))


@routes.get("/media/{media_id}/content")
@requires(Permission.TASKS_READ)
@describe(
    summary="Download the file (a redirect to a signed, expiring URL)",
    path=MediaPath,
    responses={302: None},
    problems=[MediaNotFound, service.MediaNotUploaded],
)
async def media_content(request: web.Request) -> web.Response:
    url = await request.app[appkeys.MEDIA].content_url(
        principal(request),
        media_id_of(request),
    )
    return _redirect(request, url)


@routes.get("/media/{media_id}/thumbnail")
@requires(Permission.TASKS_READ)
@describe(
    summary="Download the thumbnail (a redirect to a signed, expiring URL)",
    path=MediaPath,
    responses={302: None},
    problems=[MediaNotFound, service.ThumbnailNotReady],
)
async def media_thumbnail(request: web.Request) -> web.Response:
    url = await request.app[appkeys.MEDIA].thumbnail_url(
        principal(request),
        media_id_of(request),
    )
    return _redirect(request, url)
