"""Media: the stores' own upload URLs: the local store refuses tampered and expired
URLs and streams large bodies to disk; S3's presigned POST form works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.blobs import LocalBlobStore
from storage.s3_blobs import S3BlobStore
from syncd import appkeys
from syncd.app import create_app
from syncd.wiring import blob_store
from tests.support.factories import signed_in
from tests.support.media import (
    declared,
    follow,
    jobs_done,
    new_task,
    photo,
    problem,
    send,
    uploaded,
)
from tests.support.services import make_settings, s3_settings

Sessions = async_sessionmaker[AsyncSession]


async def local_client(aiohttp_client: Any, database_url: str, tmp_path: Path, **env: str) -> Any:
    """A client of an app on the local blob store (whatever `settings` this module runs)."""
    return await aiohttp_client(
        create_app(make_settings(tmp_path, DATABASE_URL=database_url, **env))
    )


async def test_tampered_and_expired_local_urls_are_refused(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    client = await local_client(aiohttp_client, database_url, tmp_path)
    app = client.app
    admin = await signed_in(client, sessions)
    data = photo()
    answer = await declared(client, admin, data, owner_id=str(await new_task(client, admin)))
    url = answer["upload"]["url"]
    session: aiohttp.ClientSession = client.session
    headers = {"Content-Type": "image/jpeg"}
    bigger = url.replace(f"size={len(data)}", f"size={len(data) + 100}")
    await problem(await session.put(bigger, data=data, headers=headers), 403, "signature_invalid")
    other_key = url.replace("media%2F", "media%2Fx")
    await problem(
        await session.put(other_key, data=data, headers=headers), 403, "signature_invalid"
    )
    await problem(
        await session.put(url + "x", data=data, headers=headers), 403, "signature_invalid"
    )
    store = app[appkeys.BLOBS]
    assert isinstance(store, LocalBlobStore)
    assert store.signer is not None
    key = f"tenants/{admin.tenant.id}/media/{answer['media_id']}"
    expired = store.signer.sign_upload(key, "image/jpeg", len(data), store.signer.now() - 1)
    response = await client.put("/blobs/upload", params=expired, data=data, headers=headers)
    await problem(response, 403, "url_expired")
    assert not await store.exists(key)
    short = await session.put(url, data=data[:-10], headers=headers)
    await problem(short, 400, "upload_incomplete")
    assert (await session.put(url, data=data, headers=headers)).status == 200
    # Downloads: a valid URL streams, a tampered or expired one is refused.
    download = await store.presign_download(key, 60, content_type="image/jpeg")
    good = await client.get(download)
    assert (await good.read(), good.headers["Content-Type"]) == (data, "image/jpeg")
    await problem(
        await client.get(download.replace("image%2Fjpeg", "text%2Fhtml")), 403, "signature_invalid"
    )
    stale = store.signer.sign_download(key, store.signer.now() - 1)
    await problem(await client.get("/blobs/download", params=stale), 403, "url_expired")
    missing = await store.presign_download(key + "-gone", 60)
    await problem(await client.get(missing), 404, "blob_not_found")
    await problem(await client.get("/blobs/download"), 403, "signature_invalid")


async def test_local_uploads_past_the_body_limit_stream_to_disk(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions
) -> None:
    client = await local_client(aiohttp_client, database_url, tmp_path, MAX_BODY_BYTES="1024")
    app = client.app
    admin = await signed_in(client, sessions)
    data = photo((1600, 1200))
    assert len(data) > 10 * app[appkeys.SETTINGS].max_body_bytes
    media = await uploaded(client, admin, data, owner_id=str(await new_task(client, admin)))
    assert media["size"] == len(data)
    await jobs_done(app)
    media = await (await client.get(f"/media/{media['id']}", headers=admin.headers)).json()
    assert (media["width"], media["height"]) == (1600, 1200)


async def test_s3_presigned_post_form(
    aiohttp_client: Any, database_url: str, tmp_path: Path, sessions: Sessions, s3_endpoint: str
) -> None:
    settings = s3_settings(
        tmp_path, s3_endpoint, DATABASE_URL=database_url, S3_UPLOAD_METHOD="post"
    )
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    await store.ensure_bucket()
    app = create_app(settings)
    client = await aiohttp_client(app)
    admin = await signed_in(client, sessions)
    data = photo()
    answer = await declared(client, admin, data, owner_id=str(await new_task(client, admin)))
    upload = answer["upload"]
    assert upload["method"] == "POST"
    key = f"tenants/{admin.tenant.id}/media/{answer['media_id']}"
    assert upload["fields"]["key"] == key
    assert upload["fields"]["Content-Type"] == "image/jpeg"
    sent = await send(client, upload, data, "image/jpeg")
    assert sent.status in (200, 204), await sent.text()
    done = await client.post(f"/media/{answer['media_id']}/complete", headers=admin.headers)
    assert (await done.json())["status"] == "uploaded"
    await jobs_done(app)
    body, _ = await follow(client, admin, f"/media/{answer['media_id']}/content")
    assert body == data
    local = await client.put("/blobs/upload", data=b"x")
    await problem(local, 404, "not_found")  # S3 serves the URLs; syncd's own are off
