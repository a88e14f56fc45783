"""Photos and documents, uploaded through their own queue: records never wait.

`MediaQueue.add(path, content_type, owner_type, owner_id)` keeps the file's
path in the store's file (one row of `media_queue`, durable when it returns)
and answers the media id at once, so a receipt or an event can name it.
`upload()` sends what is queued, oldest first, each in three steps the
server's media flow asks (docs/api.md, Media): declare (`POST
/media/uploads`, with its size and SHA-256), send the bytes to the signed
URL it answers, complete (`POST /media/{id}/complete`). A step that fails
for a passing reason (network, 429, 5xx) leaves the file queued for the
next `upload()`; a problem (the file gone, a type the server refuses) marks
it `failed` with the problem's code. Declaring again after a cut is safe:
the server answers the same declaration again. Pushes and pulls never wait
for uploads (the client's `push()` knows nothing of this queue).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from syncd_client.errors import ProblemError, SyncClientError, TransientError
from syncd_client.session import Session
from syncd_client.store import LocalStore


@dataclass(frozen=True, slots=True)
class QueuedMedia:
    media_id: str
    path: str
    content_type: str
    owner_type: str
    owner_id: str | None
    state: str
    attempts: int
    error: str | None


class MediaQueue:
    def __init__(self, store: LocalStore, session: Callable[[], Session]) -> None:
        self.store = store
        self._session = session  # only uploading needs one: adding works offline

    @property
    def session(self) -> Session:
        return self._session()

    def add(
        self,
        path: str | Path,
        content_type: str,
        owner_type: str,
        owner_id: uuid.UUID | str | None,
        media_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue a file for upload; answers its media id (durable on return)."""
        media_id = media_id or uuid.uuid4()
        with self.store.transaction() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM media_queue").fetchone()[0]
            db.execute(
                "INSERT INTO media_queue (media_id, path, content_type, owner_type, owner_id, seq)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(media_id),
                    str(Path(path).resolve()),
                    content_type,
                    owner_type,
                    None if owner_id is None else str(owner_id),
                    seq,
                ),
            )
        return media_id

    def items(self) -> list[QueuedMedia]:
        """Every file the queue holds, in the order they were added."""
        with self.store.transaction() as db:
            found = db.execute(
                "SELECT media_id, path, content_type, owner_type, owner_id, state, attempts,"
                " error FROM media_queue ORDER BY seq"
            ).fetchall()
        return [QueuedMedia(*row) for row in found]

    async def upload(self) -> dict[str, int]:
        """Send every queued file once; answers how many were uploaded, left, failed."""
        done = {"uploaded": 0, "left": 0, "failed": 0}
        for item in self.items():
            if item.state != "queued":
                continue
            try:
                await self._send(item)
            except TransientError as exc:
                self._mark(item, "queued", str(exc))
                done["left"] += 1
            except (ProblemError, OSError, SyncClientError) as exc:
                code = exc.code if isinstance(exc, ProblemError) else type(exc).__name__
                self._mark(item, "failed", code)
                done["failed"] += 1
            else:
                self._mark(item, "uploaded", None)
                done["uploaded"] += 1
        return done

    async def _send(self, item: QueuedMedia) -> None:
        data = await asyncio.to_thread(Path(item.path).read_bytes)
        declared = await self.session.call(
            "POST",
            "/media/uploads",
            json_body={
                "media_id": item.media_id,
                "content_type": item.content_type,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "owner_type": item.owner_type,
                "owner_id": item.owner_id,
            },
        )
        upload: dict[str, Any] = declared["upload"]
        transport = self.session.transport
        target = transport.url(upload["url"]) if upload["url"].startswith("/") else upload["url"]
        try:
            if upload["method"] == "PUT":
                sent = transport.http.put(
                    target,
                    data=data,
                    headers=upload.get("headers") or {},
                    timeout=transport.timeout,
                )
            else:
                form = aiohttp.FormData()
                for name, value in (upload.get("fields") or {}).items():
                    form.add_field(name, value)
                form.add_field("file", data, content_type=item.content_type)
                sent = transport.http.post(target, data=form, timeout=transport.timeout)
            async with sent as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"upload of {item.media_id}: {type(exc).__name__}") from exc
        if status >= 500 or status in (408, 429):
            raise TransientError(f"upload of {item.media_id}: HTTP {status}")
        if status >= 400:
            raise ProblemError(status, {"code": f"upload_http_{status}"})
        await self.session.call("POST", f"/media/{item.media_id}/complete")

    def _mark(self, item: QueuedMedia, state: str, error: str | None) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE media_queue SET state = ?, attempts = attempts + 1, error = ?"
                " WHERE media_id = ?",
                (state, error, item.media_id),
            )
