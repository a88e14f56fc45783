"""Prometheus metrics of one app: `GET /metrics`, request timing, sync counters, gauges.

Each app has its own `CollectorRegistry` (tests build many apps in one
process); nothing goes to prometheus-client's global registry.

- `syncd_http_request_duration_seconds{route,method,status}`: timed by the
  outermost middleware `measure`. `route` is the route's template
  (`/conflicts/{conflict_id}`), never the raw path; an unrouted request is
  `<unmatched>`. WebSocket sessions (101) are not requests: see the gauges.
- `syncd_sync_pushes_total{endpoint}`, `syncd_sync_pushed_changes_total{status}`,
  `syncd_sync_pulls_total`, `syncd_sync_pulled_changes_total`,
  `syncd_conflicts_opened_total`, `syncd_conflicts_resolved_total{resolution}`:
  counted by the sync and inbox handlers (`count_push`, `count_pull`,
  `count_resolved`) from the answers they send. A resent batch is answered
  from its stored answer and counts again.
- Gauges read at scrape time (`StateCollector`): live sync sockets, Yjs
  documents loaded, job queue depth and failures (when the queue exposes
  `depth()` and `failures()`), and the database pool's checked-out and
  pooled connections (a `QueuePool`, as both databases use; other pools report
  none).

Access: open outside production. When METRICS_TOKEN is set (any environment)
the scrape needs `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise); in
production without METRICS_TOKEN the route answers 404, as if absent.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

from syncd import appkeys
from syncd.auth.errors import TokenInvalid, TokenMissing
from syncd.auth.permissions import public
from syncd.i18n import Msg
from syncd.openapi import Binary, describe
from syncd.web.middlewares import Handler
from syncd.web.problems import NotFound

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBSOCKET_STATUS = 101
CLIENT_GONE_STATUS = 499  # the client hung up before the answer (nginx's convention)


@runtime_checkable
class QueueStats(Protocol):
    """What a job queue may expose to be measured."""

    def depth(self) -> int: ...

    def failures(self) -> int: ...


class StateCollector(Collector):
    """Gauges read from the app's live objects at each scrape; absent parts are skipped."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterable[Metric]:
        app = self.app
        if appkeys.LIVE in app:
            yield _gauge("syncd_live_sockets", "Open live sync WebSockets", len(app[appkeys.LIVE]))
        if appkeys.YJS in app:
            yield _gauge("syncd_yjs_documents", "Yjs documents loaded", len(app[appkeys.YJS]))
        if appkeys.JOBS in app:
            queue = app[appkeys.JOBS]
            if isinstance(queue, QueueStats):
                yield _gauge("syncd_jobs_queue_depth", "Jobs queued or running", queue.depth())
                yield _gauge("syncd_jobs_failed", "Jobs that failed for good", queue.failures())
        if appkeys.ENGINE in app:
            pool = app[appkeys.ENGINE].pool
            if isinstance(pool, QueuePool):
                yield _gauge("syncd_db_pool_checked_out", "Connections in use", pool.checkedout())
                yield _gauge("syncd_db_pool_size", "Connections the pool keeps", pool.size())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Metrics:
    """The app's registry and the metrics the handlers and middleware update."""

    def __init__(self, app: web.Application) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        registry.register(StateCollector(app))
        self.request_seconds = Histogram(
            "syncd_http_request_duration_seconds",
            "HTTP request duration by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.pushes = Counter(
            "syncd_sync_pushes", "Push batches answered", ["endpoint"], registry=registry
        )
        self.pushed_changes = Counter(
            "syncd_sync_pushed_changes", "Pushed changes by result", ["status"], registry=registry
        )
        self.pulls = Counter("syncd_sync_pulls", "Pull pages answered", registry=registry)
        self.pulled_changes = Counter(
            "syncd_sync_pulled_changes", "Changes sent in pull pages", registry=registry
        )
        self.conflicts_opened = Counter(
            "syncd_conflicts_opened", "Conflicts opened by pushes", registry=registry
        )
        self.conflicts_resolved = Counter(
            "syncd_conflicts_resolved",
            "Conflicts resolved in the inbox",
            ["resolution"],
            registry=registry,
        )


METRICS = web.AppKey("metrics", Metrics)


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request under its route template (the outermost middleware)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect raised past the problem middleware
        status = exc.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = CLIENT_GONE_STATUS
        raise
    finally:
        if status != WEBSOCKET_STATUS:
            method = request.method if request.method in METHODS else "OTHER"
            request.app[METRICS].request_seconds.labels(
                route_template(request), method, str(status)
            ).observe(time.perf_counter() - started)


def count_push(app: web.Application, endpoint: str, answer: Mapping[str, Any]) -> None:
    """Count a push answer: the batch, each change by result, the conflicts it opened."""
    metrics = app[METRICS]
    metrics.pushes.labels(endpoint).inc()
    statuses: dict[str, int] = {}
    conflicts = 0
    for result in answer["results"]:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
        if result.get("conflict_id"):
            conflicts += 1
    for status, count in statuses.items():
        metrics.pushed_changes.labels(status).inc(count)
    if conflicts:
        metrics.conflicts_opened.inc(conflicts)


def count_pull(app: web.Application, answer: Mapping[str, Any]) -> None:
    metrics = app[METRICS]
    metrics.pulls.inc()
    metrics.pulled_changes.inc(len(answer["changes"]))


def count_resolved(app: web.Application, resolution: str, how_many: int) -> None:
    app[METRICS].conflicts_resolved.labels(resolution).inc(how_many)


def _check_access(request: web.Request) -> None:
    settings = request.app[appkeys.SETTINGS]
    expected = settings.metrics_token
    if expected is None:
        if settings.is_production:
            raise NotFound()
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise TokenMissing(Msg("send 'Authorization: Bearer <METRICS_TOKEN>'"))
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise TokenInvalid(Msg("this is not the metrics token"))


@public
@describe(
    summary="Prometheus metrics",
    responses={200: Binary(("text/plain", "application/openmetrics-text"), "The metrics")},
    problems=[TokenMissing, TokenInvalid, NotFound],
    description="Prometheus text format (OpenMetrics when the scraper asks for it). "
    "Open outside production; with METRICS_TOKEN set, send "
    "`Authorization: Bearer <METRICS_TOKEN>`; in production without METRICS_TOKEN, 404.",
)
async def scrape(request: web.Request) -> web.Response:
    _check_access(request)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def setup(app: web.Application) -> None:
    app[METRICS] = Metrics(app)
    app.router.add_get("/metrics", scrape, name="metrics")
