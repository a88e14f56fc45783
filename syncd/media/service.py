"""Media use cases: declare an upload, complete it, read it, hand out its URLs.

The file never passes through syncd's handlers: a device declares the upload
(`declare`: the row is created `pending` on the first call, a presigned URL
answered on every call), sends the bytes straight to the blob store, then
calls `complete`, which trusts nothing the client said: the object must
exist, have the declared size, start with the magic bytes of the declared
type and, when a sha256 was declared, hash to it. Only then is the row marked
`uploaded` and the thumbnail job queued. A failed check deletes nothing: the
device may upload again to a fresh URL and complete again.

Every change to a media row goes through the sync service's write path
(`server_upsert`) with the owner's task, so devices in that task's scope
receive it. Technicians reach only media whose task is assigned to them (a
task's own media, and its purchases' and receipts'); staff and admins reach
all of the tenant's. Out of scope reads as not found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.queue import JobQueue
from jobs.runtime import MediaWriter
from jobs.thumbnails import MAKE_THUMBNAIL, THUMBNAIL_FORMATS
from storage import media_store
from storage.blobs import BlobNotFound, BlobStore, PresignedUpload
from storage.models import MediaAsset
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.scope import Scope
from syncd.web.problems import Conflict, Forbidden, NotFound, PayloadTooLarge, Problem

CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf")
SNIFF_BYTES = 32
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


class MediaNotFound(NotFound):
    code = "media_not_found"
    title = "No such media"


class ThumbnailNotReady(NotFound):
    code = "thumbnail_not_ready"
    title = "The media has no thumbnail (yet)"


class MediaIdTaken(Conflict):
    code = "media_id_taken"
    title = "The media id belongs to another upload"


class MediaMismatch(Conflict):
    code = "media_mismatch"
    title = "The media was declared with other terms"


class MediaAlreadyUploaded(Conflict):
    code = "media_already_uploaded"
    title = "The media is already uploaded"


class MediaNotUploaded(Conflict):
    code = "media_not_uploaded"
    title = "The media's upload is not complete"


class OwnerOutOfScope(Forbidden):
    code = "owner_out_of_scope"
    title = "You may not attach media to this owner"


class UnknownOwner(Problem):
    status = 422
    code = "unknown_owner"
    title = "The owner does not exist"


class UploadTooLarge(PayloadTooLarge):
    code = "upload_too_large"
    title = "The upload is too large"


class UploadCheckFailed(Problem):
    status = 422


class UploadMissing(UploadCheckFailed):
    code = "upload_missing"
    title = "Nothing was uploaded for this media"


class SizeMismatch(UploadCheckFailed):
    code = "size_mismatch"
    title = "The uploaded size differs from the declared one"


class TypeMismatch(UploadCheckFailed):
    code = "type_mismatch"
    title = "The uploaded file is not of the declared type"


class ChecksumMismatch(UploadCheckFailed):
    code = "checksum_mismatch"
    title = "The uploaded file does not hash to the declared sha256"


@dataclass(frozen=True, slots=True)
class Declaration:
    media_id: uuid.UUID
    content_type: str
    size: int
    sha256: str | None
    owner_type: str
    owner_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Presigned:
    media_id: uuid.UUID
    upload: PresignedUpload
    expires_at: datetime
    created: bool


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file announce (of those we accept)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def storage_key(tenant_id: uuid.UUID, media_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/media/{media_id}"


class MediaService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: MediaWriter,
        blobs: BlobStore,
        jobs: JobQueue,
        *,
        max_upload_bytes: int,
        url_ttl_s: int,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.blobs = blobs
        self.jobs = jobs
        self.max_upload_bytes = max_upload_bytes
        self.url_ttl_s = url_ttl_s

    # --- declare ----------------------------------------------------------------

    async def declare(self, who: Principal, declared: Declaration) -> Presigned:
        """Create the pending row on the first call; a fresh upload URL on every call."""
        if declared.size > self.max_upload_bytes:
            raise UploadTooLarge(
                Msg("an upload may be at most {limit} bytes", limit=self.max_upload_bytes)
            )
        if declared.owner_type == "tenant":
            if declared.owner_id not in (None, who.tenant_id):
                raise UnknownOwner(Msg("a tenant's media names its own tenant or no owner id"))
            declared = dataclasses.replace(declared, owner_id=who.tenant_id)
        key = storage_key(who.tenant_id, declared.media_id)
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            existing = await media_store.find_media(
                uow.session, declared.media_id, include_deleted=True
            )
            owner = await media_store.find_owner(
                uow.session, declared.owner_type, declared.owner_id
            )
            if existing is not None:
                _same_declaration(who, existing, declared)
            elif owner is None:
                raise UnknownOwner(
                    Msg(
                        "no {owner_type} {owner_id}",
                        owner_type=declared.owner_type,
                        owner_id=declared.owner_id,
                    )
                )
            task_id = None if owner is None else owner.task_id
            await self._authorise(uow.session, who, declared.owner_type, task_id)
        if existing is None:
            values = {
                "owner_type": declared.owner_type,
                "owner_id": _text(declared.owner_id),
                "content_type": declared.content_type,
                "declared_size": declared.size,
                "sha256": declared.sha256,
                "status": "pending",
                "storage_key": key,
                "created_by": str(who.user_id),
            }
            await self.writer.server_upsert(
                who.tenant_id, who.user_id, "media_asset", declared.media_id, values, task_id
            )
        upload = await self.blobs.presign_upload(
            key, declared.content_type, declared.size, self.url_ttl_s
        )
        expires_at = utcnow() + timedelta(seconds=self.url_ttl_s)
        return Presigned(declared.media_id, upload, expires_at, created=existing is None)

    async def _authorise(
        self, session: AsyncSession, who: Principal, owner_type: str, task_id: uuid.UUID | None
    ) -> None:
        scope = await Scope.load(session, who)
        if scope.is_whole_tenant:
            return
        if owner_type == "tenant" or task_id is None:
            raise OwnerOutOfScope(
                Msg("technicians attach media only to their assigned tasks' work")
            )
        if not scope.sees_task(task_id):
            raise OwnerOutOfScope("the task is not assigned to you")

    # --- complete ---------------------------------------------------------------

    async def complete(self, who: Principal, media_id: uuid.UUID) -> MediaAsset:
        """Check the stored object against the declaration; mark it uploaded."""
        media, task_id = await self._visible(who, media_id)
        if media.status != "uploaded":
            size = await self._check(media)
            values = {"status": "uploaded", "size": size, "completed_at": utcnow().isoformat()}
            await self.writer.server_upsert(
                who.tenant_id,
                who.user_id,
                "media_asset",
                media_id,
                values,
                task_id,
                event="media_added",
            )
            media, _ = await self._visible(who, media_id)
        if media.thumbnail_key is None and media.content_type in THUMBNAIL_FORMATS:
            await self.jobs.enqueue(MAKE_THUMBNAIL, str(who.tenant_id), str(media_id))
        return media

    async def _check(self, media: MediaAsset) -> int:
        try:
            size = await self.blobs.size(media.storage_key)
        except BlobNotFound:
            raise UploadMissing("upload the file to the URL first, then complete") from None
        if size != media.declared_size:
            raise SizeMismatch(
                Msg(
                    "{size} bytes were uploaded; {declared} were declared",
                    size=size,
                    declared=media.declared_size,
                ),
                extra={"declared_size": media.declared_size, "uploaded_size": size},
            )
        async with self.blobs.open(media.storage_key, chunk_bytes=SNIFF_BYTES) as chunks:
            head = await anext(chunks, b"")
        found = sniff(head)
        if found != media.content_type:
            raise TypeMismatch(
                Msg("the file is {found}, not {declared}", found=found, declared=media.content_type)
                if found
                else Msg(
                    "the file is of an unknown type, not {declared}", declared=media.content_type
                ),
                extra={"declared_type": media.content_type, "detected_type": found},
            )
        if media.sha256 is not None:
            digest = hashlib.sha256()
            async with self.blobs.open(media.storage_key) as chunks:
                async for chunk in chunks:
                    digest.update(chunk)
            if digest.hexdigest() != media.sha256:
                raise ChecksumMismatch(Msg("the uploaded file's sha256 is not the declared one"))
        return size

    # --- read -------------------------------------------------------------------

    async def get(self, who: Principal, media_id: uuid.UUID) -> MediaAsset:
        return (await self._visible(who, media_id))[0]

    async def content_url(self, who: Principal, media_id: uuid.UUID) -> str:
        media = await self.get(who, media_id)
        if media.status != "uploaded":
            raise MediaNotUploaded(Msg("complete the upload before reading it"))
        return await self.blobs.presign_download(
            media.storage_key, self.url_ttl_s, content_type=media.content_type
        )

    async def thumbnail_url(self, who: Principal, media_id: uuid.UUID) -> str:
        media = await self.get(who, media_id)
        if media.thumbnail_key is None:
            raise ThumbnailNotReady("no thumbnail has been made for this media")
        return await self.blobs.presign_download(
            media.thumbnail_key, self.url_ttl_s, content_type="image/jpeg"
        )

    async def _visible(
        self, who: Principal, media_id: uuid.UUID
    ) -> tuple[MediaAsset, uuid.UUID | None]:
        """The live media and its task, if the caller may reach it; else MediaNotFound."""
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            media = await media_store.find_media(uow.session, media_id)
            if media is None:
                raise MediaNotFound(Msg("no media {media_id}", media_id=media_id))
            task_id = await media_store.task_of(uow.session, media)
            if not (await Scope.load(uow.session, who)).sees_task(task_id):
                raise MediaNotFound(Msg("no media {media_id}", media_id=media_id))
        return media, task_id


def _same_declaration(who: Principal, media: MediaAsset, declared: Declaration) -> None:
    """Refuse a re-declaration that is not a retry of the same upload by its creator."""
    if media.deleted_at is not None:
        raise MediaIdTaken(
            Msg("media {media_id} was removed; declare the file under a new id", media_id=media.id)
        )
    if media.created_by != who.user_id:
        raise MediaIdTaken(
            Msg("media {media_id} was declared by someone else; pick a new id", media_id=media.id)
        )
    given = (
        declared.content_type,
        declared.size,
        declared.sha256,
        declared.owner_type,
        declared.owner_id,
    )
    stored = (
        media.content_type,
        media.declared_size,
        media.sha256,
        media.owner_type,
        media.owner_id,
    )
    if given != stored:
        raise MediaMismatch(
            Msg(
                "this media id was declared with another type, size, checksum or owner; "
                "declare a new id for another file"
            )
        )
    if media.status == "uploaded":
        raise MediaAlreadyUploaded(Msg("the upload is complete; read the media instead"))


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
