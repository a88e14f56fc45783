"""The Python client's media queue: files go up on their own, records never wait.

A technician's phone queues two photos of a task while offline (durable in
its file) and a timeline entry naming one; its push is answered while both
files are still queued; `media.upload()` then declares, sends and completes
each through the real media flow; a file gone from the disk is marked
failed without holding back the other; another tenant finds nothing. On
SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd_client import Credentials, LocalStore, SyncClient
from tests.support.factories import PASSWORD, make_tenant, signed_in
from tests.support.media import new_task

Sessions = async_sessionmaker[AsyncSession]


def jpeg_file(path: Path, color: tuple[int, int, int]) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


async def test_media_go_up_through_their_own_queue(
    client: Any, sessions: Sessions, tmp_path: Path
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task_id = await new_task(client, staff, tech)
    store = LocalStore(tmp_path / "phone.db", client_id="phone-1")
    async with SyncClient(
        str(client.make_url("/")), tenant.slug, store, credentials=Credentials(tech.email, PASSWORD)
    ) as device:
        await device.login(tech.email, PASSWORD)
        kept = device.media.add(
            jpeg_file(tmp_path / "a.jpg", (200, 40, 40)), "image/jpeg", "task", task_id
        )
        gone_path = jpeg_file(tmp_path / "b.jpg", (40, 200, 40))
        gone = device.media.add(gone_path, "image/jpeg", "task", task_id)
        gone_path.unlink()
        device.add_event(task_id, "photo", payload={"media_id": str(kept), "caption": "Before"})
        assert await device.push() == 1  # the record went; the files wait in their queue
        assert [item.state for item in device.media.items()] == ["queued", "queued"]

        done = await device.media.upload()
        assert done == {"uploaded": 1, "left": 0, "failed": 1}
        states = {item.media_id: (item.state, item.error) for item in device.media.items()}
        assert states[str(kept)] == ("uploaded", None)
        assert states[str(gone)] == ("failed", "FileNotFoundError")
        assert await device.media.upload() == {"uploaded": 0, "left": 0, "failed": 0}

    read = await client.get(f"/media/{kept}", headers=staff.headers)
    assert read.status == 200
    media = await read.json()
    assert (media["status"], media["owner_id"], media["size"]) == (
        "uploaded",
        str(task_id),
        (tmp_path / "a.jpg").stat().st_size,
    )
    other = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    assert (await client.get(f"/media/{kept}", headers=other.headers)).status == 404
