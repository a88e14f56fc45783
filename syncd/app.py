"""The application factory: settings in, a wired aiohttp Application out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from storage.database import create_engine, session_factory
from syncd import appkeys, console, health, metrics
from syncd.admin import routes as admin_routes
from syncd.auth import routes as auth_routes
from syncd.auth.middleware import policy
from syncd.auth.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from syncd.auth.service import AuthService
from syncd.fair_limits import fair_limits, limits_context
from syncd.finance import routes as finance_routes
from syncd.hub import InProcessHub, RedisHub
from syncd.mail import Mailer
from syncd.media import blob_routes
from syncd.media import routes as media
from syncd.openapi import routes as openapi_routes
from syncd.reports import routes as report_routes
from syncd.settings import Settings
from syncd.sync import admin_routes as sync_admin_routes
from syncd.sync import inbox_routes, live_routes
from syncd.sync import routes as sync_routes
from syncd.sync.admin import SyncAdmin
from syncd.sync.inbox import ConflictInbox
from syncd.sync.live_sessions import LiveSessions
from syncd.sync.service import SyncService
from syncd.tasks import checklist
from syncd.tasks import routes as task_routes
from syncd.tenants import routes as tenants
from syncd.users import recovery_routes as recovery
from syncd.users import routes as users
from syncd.web.boundary import boundary, index_plain_paths
from syncd.web.middlewares import problems, request_context
from syncd.wiring import blob_store, media_context
from syncd.yjs import routes as yjs_routes
from syncd.yjs.rooms import Rooms
from syncd.yjs.writer import RoomsWriter

SHUTDOWN_TIMEOUT_S = 10.0


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[
            metrics.measure,
            request_context,
            problems,
            console.console_errors,
            boundary,
            policy,
            fair_limits,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[appkeys.SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    if settings.redis_url:
        app.cleanup_ctx.append(_redis)
    app.cleanup_ctx.append(limits_context)
    app.cleanup_ctx.append(_live)
    app.cleanup_ctx.append(_yjs)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(media_context)
    app.cleanup_ctx.append(report_routes.reports_context)
    app.on_startup.append(index_plain_paths)
    app.on_shutdown.append(_close_live_sessions)
    app.on_shutdown.append(_close_yjs_sessions)
    health.setup(app)
    metrics.setup(app)
    openapi_routes.setup(app)
    for feature in (
        auth_routes,
        tenants,
        users,
        recovery,
        admin_routes,
        sync_routes,
        inbox_routes,
        sync_admin_routes,
        live_routes,
        yjs_routes,
        media,
        blob_routes,
        report_routes,
        task_routes,
        checklist,
        finance_routes,
    ):
        app.router.add_routes(feature.routes)
    console.setup(app)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    limiter: Limiter
    if appkeys.REDIS in app:
        limiter = RedisLimiter(
            app[appkeys.REDIS], settings.login_rate_window_s, settings.redis_prefix + "rl:"
        )
    else:
        limiter = MemoryLimiter(settings.login_rate_window_s)
    app[appkeys.AUTH] = AuthService(settings, app[appkeys.SESSIONS], limiter)
    app[appkeys.SYNC] = SyncService(
        app[appkeys.SESSIONS],
        max_batch=settings.max_batch_changes,
        max_skew_ms=settings.max_clock_skew_s * 1000,
        publish=app[appkeys.HUB].publish,
        ydocs=RoomsWriter(app[appkeys.YJS]),
        min_schema=settings.sync_min_schema,
    )
    app[appkeys.INBOX] = ConflictInbox(app[appkeys.SYNC])
    app[appkeys.SYNC_ADMIN] = SyncAdmin(app[appkeys.SYNC])
    mailer = app[appkeys.MAILER] = Mailer(app[appkeys.SESSIONS], settings)
    mailer.kick()  # mail left pending by an earlier run
    app[appkeys.BLOBS] = blob_store(settings)
    yield
    await mailer.close()


async def _live(app: web.Application) -> AsyncIterator[None]:
    """The fan-out hub (Redis pub/sub when configured) and the live-session registry."""
    app[appkeys.LIVE] = LiveSessions()
    if appkeys.REDIS in app:
        hub = RedisHub(app[appkeys.REDIS], app[appkeys.SETTINGS].redis_prefix)
        app[appkeys.HUB] = hub
        async with hub.running():
            yield
    else:
        app[appkeys.HUB] = InProcessHub()
        yield


async def _yjs(app: web.Application) -> AsyncIterator[None]:
    """Yjs rooms of this process, relayed over Redis pub/sub when configured."""
    settings = app[appkeys.SETTINGS]
    hub = app[appkeys.HUB]
    rooms = Rooms(
        app[appkeys.SESSIONS],
        hub.pubsub if isinstance(hub, RedisHub) else None,  # the hub's listener, shared
        max_per_user=settings.yjs_max_sockets_per_user,
        max_frame_bytes=settings.max_ws_frame_bytes,
    )
    app[appkeys.YJS] = rooms
    async with rooms.running():
        yield


async def _close_yjs_sessions(app: web.Application) -> None:
    """On shutdown, ask every Yjs editor to reconnect (1012), before cleanup."""
    if appkeys.YJS in app:
        await app[appkeys.YJS].close_peers(1012, "server restarting; reconnect")


async def _close_live_sessions(app: web.Application) -> None:
    """On shutdown, tell every live client to reconnect (1012), before cleanup."""
    if appkeys.LIVE in app:
        await app[appkeys.LIVE].close_all()


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    app[appkeys.ENGINE] = engine
    app[appkeys.SESSIONS] = session_factory(engine)
    yield
    await engine.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[appkeys.SETTINGS].redis_url
    assert url is not None
    client: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    app[appkeys.REDIS] = client
    yield
    await client.aclose()
