"""Composition of the blob store, the jobs' runtime and queue, and the media service.

Shared by the two composition roots: the app factory (`media_context`, a
cleanup context: the in-process queue, or rq when REDIS_URL is set, plus the
hourly cleanup) and `syncd worker` (syncd.worker), which build the same
dependencies the same way.

The blob store is S3 when S3_BUCKET is set, else the local directory, whose
URLs are signed with a key derived from JWT_ACCESS_SECRET (rotating that
secret invalidates outstanding blob URLs, which live minutes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.cleanup import CLEANUP_INTERVAL_S, REMOVE_STALE_UPLOADS
from jobs.queue import InProcessQueue, JobQueue, RqQueue, every
from jobs.runtime import MediaWriter, Runtime
from storage.blob_urls import UrlSigner, derive_secret
from storage.blobs import BlobStore, LocalBlobStore
from syncd import appkeys
from syncd.media.service import MediaService
from syncd.settings import Settings

CLEANUP_FIRST_AFTER_S = 300.0


def blob_store(settings: Settings) -> BlobStore:
    if settings.s3_bucket:
        from storage.s3_blobs import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            upload_method=settings.s3_upload_method,
        )
    signer = UrlSigner(derive_secret(settings.jwt_access_secret, "blob-urls"))
    return LocalBlobStore(settings.blob_root, signer=signer)


def job_runtime(
    settings: Settings,
    blobs: BlobStore,
    writer: MediaWriter,
    sessions: async_sessionmaker[AsyncSession],
) -> Runtime:
    return Runtime(blobs, writer, sessions, upload_ttl_s=settings.upload_cleanup_after_s)


def job_queue(settings: Settings, runtime: Runtime) -> JobQueue:
    if settings.redis_url:
        return RqQueue(settings.redis_url, settings.redis_prefix)
    return InProcessQueue(runtime)


async def media_context(app: web.Application) -> AsyncIterator[None]:
    """The job queue and the media service, for the life of the app (after _services)."""
    settings = app[appkeys.SETTINGS]
    runtime = job_runtime(settings, app[appkeys.BLOBS], app[appkeys.SYNC], app[appkeys.SESSIONS])
    queue = app[appkeys.JOBS] = job_queue(settings, runtime)
    app[appkeys.MEDIA] = MediaService(
        app[appkeys.SESSIONS],
        app[appkeys.SYNC],
        app[appkeys.BLOBS],
        queue,
        max_upload_bytes=settings.max_upload_bytes,
        url_ttl_s=settings.blob_url_ttl_s,
    )
    try:
        async with every(
            CLEANUP_INTERVAL_S, queue, REMOVE_STALE_UPLOADS, first_after_s=CLEANUP_FIRST_AFTER_S
        ):
            yield
    finally:
        await queue.close()
