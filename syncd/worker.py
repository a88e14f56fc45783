"""`syncd worker`: an rq worker over the `media` and `reports` queues.

The second composition root of jobs/: it builds what the app factory builds
for jobs (database engine, sync service publishing to the Redis hub, blob
store) inside one `asyncio.Runner`, hands them to `jobs.runtime.configure`,
and runs an rq `SimpleWorker`: jobs run in this process, one at a time, on
that runner's loop, so connection pools live across jobs (a forking worker
would share their sockets with its children). The scheduler runs too, so
retries wait their intervals. `--burst` stops when the queues are empty.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import Queue, SimpleWorker

from jobs import runtime
from jobs.queue import queue_names
from storage.database import create_engine, session_factory
from syncd.hub import RedisHub
from syncd.settings import Settings
from syncd.sync.service import SyncService
from syncd.wiring import blob_store

log = structlog.get_logger("jobs.worker")

EXIT_NO_REDIS = 2


@dataclass
class _Resources:
    close: Callable[[], Coroutine[Any, Any, None]]


async def _open(settings: Settings, runner: asyncio.Runner) -> _Resources:
    assert settings.redis_url is not None
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    sessions = session_factory(engine)
    redis = AsyncRedis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    hub = RedisHub(redis, settings.redis_prefix)  # publish only: tells `serve` processes
    sync = SyncService(
        sessions,
        max_batch=settings.max_batch_changes,
        max_skew_ms=settings.max_clock_skew_s * 1000,
        publish=hub.publish,
    )
    runtime.configure(
        blob_store(settings),
        sync,
        sessions,
        upload_ttl_s=settings.upload_cleanup_after_s,
        runner=runner,
    )

    async def close() -> None:
        await redis.aclose()
        await engine.dispose()

    return _Resources(close)


def log_failed_job(job: Any, exc_type: type, exc_value: BaseException, _tb: Any) -> bool:
    """One structured line per failed attempt (rq goes on to retry or keep it failed)."""
    retries_left = job.retries_left or 0
    log.error(
        "job failed",
        job=job.func_name,
        id=job.id,
        queue=job.origin,
        error=exc_type.__name__,
        retries_left=retries_left,
        final=retries_left == 0,
    )
    return True  # and rq's own handling after it


class QuickStopWorker(SimpleWorker):
    """rq's SimpleWorker with its command channel polled every second.

    rq listens for commands on a pub/sub thread that waits up to 60 s per poll,
    and redis-py 8's `PubSubWorkerThread.stop()` joins that thread: every stop
    of a worker (the end of a `--burst`, a shutdown) took up to a minute.
    """

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # rq declares pubsub_thread as None; it holds the thread once subscribed.
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    if settings.redis_url is None:
        print(
            "syncd: worker needs REDIS_URL (without it the app runs jobs itself)", file=sys.stderr
        )
        return EXIT_NO_REDIS
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=30)
    queues = [Queue(name, connection=connection) for name in queue_names(settings.redis_prefix)]
    with asyncio.Runner() as runner:
        resources = runner.run(_open(settings, runner))
        try:
            worker = QuickStopWorker(
                queues, connection=connection, exception_handlers=[log_failed_job]
            )
            worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
        finally:
            runtime.reset()
            runner.run(resources.close())
            connection.close()
    return 0
