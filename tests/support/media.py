"""Helpers for media and jobs tests: images, tasks, declare, upload, complete, follow."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from jobs.queue import InProcessQueue
from syncd import appkeys
from tests.support.factories import Account
from tests.support.sync import action, push, upsert

RED, BLUE = (220, 20, 20), (20, 20, 220)


def photo(size: tuple[int, int] = (800, 400), orientation: int | None = None) -> bytes:
    """A JPEG, left half red and right half blue, optionally with an EXIF orientation."""
    image = Image.new("RGB", size, BLUE)
    image.paste(Image.new("RGB", (size[0] // 2, size[1]), RED), (0, 0))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 128, 0, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["code"] == code, body
    return body


async def new_task(client: Any, staff: Account, technician: Account | None = None) -> uuid.UUID:
    task_id = uuid.uuid4()
    changes = [upsert("task", task_id, "dash", title="Fix the pump")]
    if technician is not None:
        changes.append(
            action(task_id, "assign", "dash", fields={"user_id": str(technician.user_id)})
        )
    await push(client, staff, "dash-" + staff.user_id.hex[:8], changes)
    return task_id


async def declare(client: Any, account: Account, data: bytes, **fields: Any) -> Any:
    body = {
        "media_id": str(uuid.uuid4()),
        "content_type": "image/jpeg",
        "size": len(data),
        "owner_type": "task",
        **fields,
    }
    return await client.post("/media/uploads", json=body, headers=account.headers)


async def declared(client: Any, account: Account, data: bytes, **fields: Any) -> dict[str, Any]:
    response = await declare(client, account, data, **fields)
    assert response.status == 201, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def send(client: Any, upload: dict[str, Any], data: bytes, content_type: str = "") -> Any:
    """Upload `data` as a device would: to the presigned URL, with the signed headers."""
    session: aiohttp.ClientSession = client.session
    if upload["method"] == "POST":
        form = aiohttp.FormData()
        for name, value in upload["fields"].items():
            form.add_field(name, value)
        form.add_field("file", data, filename="upload", content_type=content_type or None)
        return await session.post(upload["url"], data=form)
    headers = {"Content-Type": content_type or upload["headers"]["Content-Type"]}
    return await session.put(upload["url"], data=data, headers=headers)


async def uploaded(client: Any, account: Account, data: bytes, **fields: Any) -> dict[str, Any]:
    answer = await declared(client, account, data, **fields)
    response = await send(client, answer["upload"], data)
    assert response.status in (200, 204), await response.text()
    completed = await client.post(f"/media/{answer['media_id']}/complete", headers=account.headers)
    assert completed.status == 200, await completed.text()
    media: dict[str, Any] = await completed.json()
    return media


async def jobs_done(app: web.Application) -> None:
    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    await asyncio.wait_for(queue.drain(), timeout=30)


async def follow(client: Any, account: Account, path: str) -> tuple[bytes, str]:
    """GET `path`, expect a redirect, fetch its target."""
    response = await client.get(path, headers=account.headers, allow_redirects=False)
    assert response.status == 302, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    target = await client.session.get(response.headers["Location"])
    assert target.status == 200, await target.text()
    return await target.read(), target.headers.get("Content-Type", "")
