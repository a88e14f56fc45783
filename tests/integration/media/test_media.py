"""Media uploads, over the local store (syncd's own signed URLs) and S3 (moto's server).

Each test runs over both blob stores and both databases: presign, upload with
aiohttp straight to the URL, complete, thumbnail by the in-process queue,
download through the redirect. moto accepts any body for a presigned PUT, so
for S3 a file larger than declared or of another type is caught by `complete`
re-checking the stored object; the local store refuses it at upload already.
Every endpoint has a cross-tenant case, and technicians reach only media of
tasks assigned to them.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.blobs import LocalBlobStore
from storage.s3_blobs import S3BlobStore
from syncd import appkeys
from syncd.app import create_app
from syncd.settings import Settings
from syncd.wiring import blob_store
from tests.support.factories import make_tenant, signed_in
from tests.support.media import (
    BLUE,
    RED,
    declare,
    declared,
    follow,
    jobs_done,
    new_task,
    photo,
    png,
    problem,
    send,
    uploaded,
)
from tests.support.services import make_settings, s3_settings
from tests.support.sync import Replica, action, push, upsert

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["local", "s3"])
async def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    if request.param == "local":
        return make_settings(tmp_path, DATABASE_URL=database_url)
    made = s3_settings(tmp_path, request.getfixturevalue("s3_endpoint"), DATABASE_URL=database_url)
    store = blob_store(made)
    assert isinstance(store, S3BlobStore)
    await store.ensure_bucket()
    return made


def is_local(settings: Settings) -> bool:
    return settings.s3_bucket is None


# --- the whole flow ------------------------------------------------------------------


async def test_upload_complete_thumbnail_and_download(
    client: Any, app: web.Application, sessions: Sessions, settings: Settings
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task_id = await new_task(client, staff, technician)
    phone = Replica()
    await phone.sync(client, technician)
    data = photo(orientation=6)  # stored 800x400 sideways; upright it is 400x800
    sha = hashlib.sha256(data).hexdigest()

    started = time.time()
    answer = await declared(client, technician, data, owner_id=str(task_id), sha256=sha.upper())
    media_id = answer["media_id"]
    upload = answer["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/jpeg", "Content-Length": str(len(data))}
    assert upload["url"].startswith("http://127.0.0.1:")
    assert started + settings.blob_url_ttl_s - 5 < _epoch(answer["expires_at"])
    pending = await (await client.get(f"/media/{media_id}", headers=technician.headers)).json()
    assert (pending["status"], pending["content_url"], pending["sha256"]) == ("pending", None, sha)

    sent = await send(client, upload, data)
    assert sent.status in (200, 204), await sent.text()
    completed = await client.post(f"/media/{media_id}/complete", headers=technician.headers)
    assert completed.status == 200, await completed.text()
    media = await completed.json()
    assert (media["status"], media["size"], media["declared_size"]) == (
        "uploaded",
        len(data),
        len(data),
    )
    assert media["completed_at"] is not None

    await jobs_done(app)
    media = await (await client.get(f"/media/{media_id}", headers=staff.headers)).json()
    assert (media["width"], media["height"]) == (400, 800)
    assert media["thumbnail_url"] == f"/media/{media_id}/thumbnail"
    body, content_type = await follow(client, staff, media["content_url"])
    assert body == data
    assert content_type.startswith("image/jpeg")
    thumb_bytes, _ = await follow(client, technician, media["thumbnail_url"])
    with Image.open(io.BytesIO(thumb_bytes)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (256, 512)
        top, bottom = thumb.getpixel((128, 20)), thumb.getpixel((128, 490))
    assert _near(top, RED), top
    assert _near(bottom, BLUE), bottom

    # The technician's device received the row through sync, each step of it.
    await phone.sync(client, technician)
    row = phone.rows[("media_asset", media_id)]
    assert row["status"] == "uploaded"
    assert row["thumbnail_key"] == row["storage_key"] + ".thumb.jpg"
    assert (row["width"], row["height"]) == (400, 800)
    # Completing again is harmless (a device retry) and queues nothing new.
    again = await client.post(f"/media/{media_id}/complete", headers=technician.headers)
    assert (await again.json())["version"] == media["version"]


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def _near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


async def test_a_png_with_transparency_gets_a_jpeg_thumbnail_and_a_pdf_none(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    task_id = await new_task(client, admin)
    image = await uploaded(client, admin, png(), content_type="image/png", owner_id=str(task_id))
    pdf = b"%PDF-1.4\n" + b"0" * 2000 + b"\n%%EOF\n"
    document = await uploaded(
        client, admin, pdf, content_type="application/pdf", owner_type="tenant"
    )
    assert document["owner_id"] == str(admin.tenant.id)
    await jobs_done(app)
    image = await (await client.get(f"/media/{image['id']}", headers=admin.headers)).json()
    assert (image["width"], image["height"]) == (40, 30)
    document = await (await client.get(f"/media/{document['id']}", headers=admin.headers)).json()
    assert document["thumbnail_url"] is None
    await problem(
        await client.get(f"/media/{document['id']}/thumbnail", headers=admin.headers),
        404,
        "thumbnail_not_ready",
    )
    body, content_type = await follow(client, admin, document["content_url"])
    assert body == pdf
    assert content_type.startswith("application/pdf")


# --- refusals at complete (and at upload, for the local store) ------------------------


async def test_complete_before_upload_is_upload_missing(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    answer = await declared(client, admin, photo(), owner_id=str(await new_task(client, admin)))
    response = await client.post(f"/media/{answer['media_id']}/complete", headers=admin.headers)
    await problem(response, 422, "upload_missing")
    await problem(
        await client.get(f"/media/{answer['media_id']}/content", headers=admin.headers),
        409,
        "media_not_uploaded",
    )


async def test_a_larger_file_than_declared_is_refused_and_can_be_retried(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    data = photo()
    fields = {"owner_id": str(await new_task(client, admin)), "media_id": str(uuid.uuid4())}
    answer = await declared(client, admin, data, **fields)
    media_id = answer["media_id"]
    bigger = data + b"\0" * 100
    sent = await send(client, answer["upload"], bigger)
    complete = f"/media/{media_id}/complete"
    if is_local(settings):
        await problem(sent, 413, "upload_too_large")
        await problem(await client.post(complete, headers=admin.headers), 422, "upload_missing")
    else:  # moto stores it; complete re-checks the stored object
        assert sent.status == 200
        body = await problem(
            await client.post(complete, headers=admin.headers), 422, "size_mismatch"
        )
        assert (body["declared_size"], body["uploaded_size"]) == (len(data), len(bigger))
    # Nothing was lost: the device asks again (same id, same terms) and uploads the right file.
    retry = await declare(client, admin, data, **fields)
    assert retry.status == 200, await retry.text()
    resent = await send(client, (await retry.json())["upload"], data)
    assert resent.status == 200
    done = await client.post(complete, headers=admin.headers)
    assert (await done.json())["status"] == "uploaded"


async def test_a_file_of_another_type_is_refused(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    task = str(await new_task(client, admin))
    jpeg = photo()
    answer = await declared(client, admin, jpeg, content_type="image/png", owner_id=task)
    complete = f"/media/{answer['media_id']}/complete"
    if is_local(settings):  # another Content-Type than signed: refused at the door
        await problem(
            await send(client, answer["upload"], jpeg, "image/jpeg"), 403, "signature_invalid"
        )
    sent = await send(client, answer["upload"], jpeg)  # sent as image/png, but is a JPEG
    assert sent.status == 200
    body = await problem(await client.post(complete, headers=admin.headers), 422, "type_mismatch")
    assert (body["declared_type"], body["detected_type"]) == ("image/png", "image/jpeg")
    garbage = b"not an image at all, just text " * 10
    other = await declared(client, admin, garbage, owner_id=task)
    assert (await send(client, other["upload"], garbage)).status == 200
    await problem(
        await client.post(f"/media/{other['media_id']}/complete", headers=admin.headers),
        422,
        "type_mismatch",
    )


async def test_a_wrong_checksum_is_refused(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    data = photo()
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = await declared(
        client, admin, data, owner_id=str(await new_task(client, admin)), sha256=wrong
    )
    assert (await send(client, answer["upload"], data)).status == 200
    response = await client.post(f"/media/{answer['media_id']}/complete", headers=admin.headers)
    await problem(response, 422, "checksum_mismatch")
    media = await (await client.get(f"/media/{answer['media_id']}", headers=admin.headers)).json()
    assert media["status"] == "pending"


# --- declaring ----------------------------------------------------------------------


async def test_declarations_are_validated(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    task = str(await new_task(client, admin))
    data = photo()
    for fields, code in [
        ({"content_type": "text/html"}, "validation_failed"),
        ({"size": 0}, "validation_failed"),
        ({"sha256": "abc"}, "validation_failed"),
        ({"owner_type": "user"}, "validation_failed"),
        ({"owner_id": None}, "validation_failed"),
        ({"media_id": "not-a-uuid"}, "validation_failed"),
        ({"extra": 1}, "validation_failed"),
    ]:
        response = await declare(client, admin, data, **{"owner_id": task, **fields})
        await problem(response, 422, code)
    too_big = settings.max_upload_bytes + 1
    await problem(
        await declare(client, admin, data, owner_id=task, size=too_big), 413, "upload_too_large"
    )
    await problem(
        await declare(client, admin, data, owner_id=str(uuid.uuid4())), 422, "unknown_owner"
    )
    await problem(
        await declare(client, admin, data, owner_type="tenant", owner_id=str(uuid.uuid4())),
        422,
        "unknown_owner",
    )


async def test_redeclaring_is_a_retry_only_for_its_creator_and_terms(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task = str(await new_task(client, admin))
    data = photo()
    fields = {"media_id": str(uuid.uuid4()), "owner_id": task}
    first = await declared(client, admin, data, **fields)
    retry = await declare(client, admin, data, **fields)
    assert retry.status == 200
    assert (await retry.json())["media_id"] == first["media_id"]
    await problem(await declare(client, staff, data, **fields), 409, "media_id_taken")
    await problem(await declare(client, admin, data + b"x", **fields), 409, "media_mismatch")
    await problem(
        await declare(client, admin, data, **fields, content_type="image/png"),
        409,
        "media_mismatch",
    )
    assert (await send(client, first["upload"], data)).status == 200
    await client.post(f"/media/{first['media_id']}/complete", headers=admin.headers)
    await problem(await declare(client, admin, data, **fields), 409, "media_already_uploaded")


# --- tenancy and scope ----------------------------------------------------------------


async def test_another_tenant_sees_and_touches_nothing(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    task = str(await new_task(client, alice))
    data = photo()
    media = await uploaded(client, alice, data, owner_id=task)
    await jobs_done(app)
    path = f"/media/{media['id']}"
    for method, suffix in [
        ("GET", ""),
        ("GET", "/content"),
        ("GET", "/thumbnail"),
        ("POST", "/complete"),
    ]:
        response = await client.request(method, path + suffix, headers=bob.headers)
        await problem(response, 404, "media_not_found")
        crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
        response = await client.request(method, path + suffix, headers=crossing)
        await problem(response, 403, "tenant_mismatch")
    # Bob cannot attach to Alice's task, and his own media of the same id is his alone.
    await problem(await declare(client, bob, data, owner_id=task), 422, "unknown_owner")
    own = await declared(
        client, bob, data, media_id=media["id"], owner_type="tenant", content_type="image/jpeg"
    )
    assert own["media_id"] == media["id"]
    mine = await (await client.get(path, headers=alice.headers)).json()
    assert (mine["status"], mine["owner_id"]) == ("uploaded", task)
    theirs = await (await client.get(path, headers=bob.headers)).json()
    assert (theirs["status"], theirs["owner_id"]) == ("pending", str(bob.tenant.id))
    phone = Replica()
    await phone.sync(client, bob)
    assert phone.rows[("media_asset", media["id"])]["owner_id"] == str(bob.tenant.id)


async def test_technicians_reach_only_media_of_their_assigned_tasks(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    mine = await new_task(client, staff, technician)
    other = await new_task(client, staff)
    purchase_id = uuid.uuid4()
    await push(
        client,
        technician,
        "phone",
        [
            upsert(
                "purchase",
                purchase_id,
                "phone",
                task_id=str(mine),
                vendor="Hardware store",
                amount_minor=1250,
                currency="SAR",
                purchased_at="2026-01-01T00:00:00Z",
            )
        ],
    )
    data = photo()
    await declared(client, technician, data, owner_id=str(mine))
    await declared(client, technician, data, owner_type="purchase", owner_id=str(purchase_id))
    await problem(
        await declare(client, technician, data, owner_id=str(other)), 403, "owner_out_of_scope"
    )
    await problem(
        await declare(client, technician, data, owner_type="tenant"), 403, "owner_out_of_scope"
    )
    theirs = await uploaded(client, staff, data, owner_id=str(other))
    await problem(
        await client.get(f"/media/{theirs['id']}", headers=technician.headers),
        404,
        "media_not_found",
    )
    await problem(
        await client.post(f"/media/{theirs['id']}/complete", headers=technician.headers),
        404,
        "media_not_found",
    )
    ours = await uploaded(client, staff, data, owner_id=str(mine))
    seen = await client.get(f"/media/{ours['id']}", headers=technician.headers)
    assert (await seen.json())["id"] == ours["id"]
    await follow(client, technician, f"/media/{ours['id']}/content")
    # Unassigned, the technician loses the task's media.
    await push(
        client,
        staff,
        "dash",
        [action(mine, "unassign", "dash", fields={"user_id": str(technician.user_id)})],
    )
    await problem(
        await client.get(f"/media/{ours['id']}", headers=technician.headers),
        404,
        "media_not_found",
    )


# --- the local store's own URLs -----------------------------------------------------


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
