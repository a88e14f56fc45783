"""The values that modules share on the aiohttp application, under typed AppKeys.

The services are named for typing only (TYPE_CHECKING): this module imports
none of them at run time, and none of the modules it names may import this
one, even for typing (tests/unit/syncd/test_import_cycles.py): a service that reads
the app's keys declares its own key beside it instead (`LIMITS` in
syncd.fair_limits, `SOCKET_CAPS` in syncd.sockets.caps). A key that one module
alone sets and reads (the metrics registry, the OpenAPI document's cache)
lives beside its owner too; the values of one request are under
`syncd.web.keys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.blobs import BlobStore
from syncd.settings import Settings

if TYPE_CHECKING:
    from jobs.queue import JobQueue
    from syncd.auth.service import AuthService
    from syncd.hub import InProcessHub
    from syncd.mail import Mailer
    from syncd.media.service import MediaService
    from syncd.reports.service import ReportService
    from syncd.sync.admin import SyncAdmin
    from syncd.sync.inbox import ConflictInbox
    from syncd.sync.live_sessions import LiveSessions
    from syncd.sync.service import SyncService
    from syncd.yjs.rooms import Rooms

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
REDIS = web.AppKey("redis", Redis)
AUTH: web.AppKey[AuthService] = web.AppKey("auth")
MAILER: web.AppKey[Mailer] = web.AppKey("mailer")
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
SYNC: web.AppKey[SyncService] = web.AppKey("sync")
JOBS: web.AppKey[JobQueue] = web.AppKey("jobs")
MEDIA: web.AppKey[MediaService] = web.AppKey("media")
REPORTS: web.AppKey[ReportService] = web.AppKey("reports")
HUB: web.AppKey[InProcessHub] = web.AppKey("hub")
LIVE: web.AppKey[LiveSessions] = web.AppKey("live")
INBOX: web.AppKey[ConflictInbox] = web.AppKey("inbox")
SYNC_ADMIN: web.AppKey[SyncAdmin] = web.AppKey("sync_admin")
YJS: web.AppKey[Rooms] = web.AppKey("yjs")
