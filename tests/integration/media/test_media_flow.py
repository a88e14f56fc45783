"""Media: the whole flow over both blob stores: presign, upload straight to the URL,
complete, thumbnail by the in-process queue, download through the redirect.
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

from aiohttp import web
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.settings import Settings
from tests.support.factories import make_tenant, signed_in
from tests.support.media import (
    BLUE,
    RED,
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
from tests.support.sync import Replica

Sessions = async_sessionmaker[AsyncSession]


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
