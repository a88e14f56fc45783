"""Thumbnails of uploaded photos: `make_thumbnail(tenant_id, media_id)`.

Reads the original from the blob store, turns it upright (EXIF orientation),
fits it in 512 x 512 px, stores it as JPEG beside the original
(`<storage_key>.thumb.jpg`), and records `thumbnail_key`, `width` and
`height` (of the upright original) through the write path, so devices
receive them. Idempotent: a thumbnail already recorded and stored is not made
again; a media row that is gone, not uploaded, or not a JPEG, PNG or WebP
image is skipped. An image Pillow cannot decode is logged and skipped
(retrying would not help); a store or database failure raises, so the queue
retries.
"""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
from dataclasses import dataclass

import structlog
from PIL import Image, ImageOps

from jobs import runtime
from jobs.queue import JobSpec
from jobs.runtime import Runtime
from storage import media_store
from storage.unit_of_work import TenantUnitOfWork

THUMBNAIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
THUMBNAIL_SUFFIX = ".thumb.jpg"
JPEG_QUALITY = 85
_UNDECODABLE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)

log = structlog.get_logger("jobs.thumbnails")


@dataclass(frozen=True, slots=True)
class Thumbnail:
    jpeg: bytes
    width: int
    height: int


def thumbnail_key(storage_key: str) -> str:
    return storage_key + THUMBNAIL_SUFFIX


def render(data: bytes, image_format: str, max_px: int) -> Thumbnail:
    """The upright image fitted in max_px x max_px as JPEG, and the original's size."""
    with Image.open(io.BytesIO(data), formats=[image_format]) as image:
        upright = ImageOps.exif_transpose(image)
        width, height = upright.size
        upright.thumbnail((max_px, max_px))
        if upright.mode in ("RGBA", "LA") or "transparency" in upright.info:
            rgba = upright.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = upright.convert("RGB")
        out = io.BytesIO()
        flat.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return Thumbnail(out.getvalue(), width, height)


async def thumbnail(rt: Runtime, tenant_id: str, media_id: str) -> str:
    """The job's core; answers what it did: made, exists, skipped or undecodable."""
    tenant, media_uuid = uuid.UUID(tenant_id), uuid.UUID(media_id)
    async with TenantUnitOfWork(rt.sessions, tenant) as uow:
        media = await media_store.find_media(uow.session, media_uuid)
        task_id = None if media is None else await media_store.task_of(uow.session, media)
    if media is None or media.status != "uploaded":
        return "skipped"
    image_format = THUMBNAIL_FORMATS.get(media.content_type)
    if image_format is None:
        return "skipped"
    key = thumbnail_key(media.storage_key)
    if media.thumbnail_key == key and await rt.blobs.exists(key):
        return "exists"
    original = await rt.blobs.read(media.storage_key)
    try:
        made = await asyncio.to_thread(render, original, image_format, rt.thumbnail_px)
    except _UNDECODABLE as exc:
        log.warning("cannot make a thumbnail", media_id=media_id, error=str(exc))
        return "undecodable"
    await rt.blobs.put_bytes(key, made.jpeg)
    values = {"thumbnail_key": key, "width": made.width, "height": made.height}
    await rt.writer.server_upsert(tenant, None, "media_asset", media_uuid, values, task_id=task_id)
    return "made"


def make_thumbnail(tenant_id: str, media_id: str) -> str:
    """The rq entry point: the core on the configured runtime."""
    return runtime.run(thumbnail, tenant_id, media_id)


MAKE_THUMBNAIL = JobSpec("jobs.thumbnails.make_thumbnail", "media", thumbnail)
