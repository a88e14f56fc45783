"""Structured logs: JSON lines through structlog, request context on every line.

The request middleware binds request_id, tenant and user into structlog's
context variables; stdlib loggers (aiohttp, alembic, rq) go through the same
renderer. The access logger redacts credentials from query strings and names
a problem answer's `code`. `configure_early` makes the lines written while
settings load (a generated development secret) JSON too.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from syncd.web.keys import PROBLEM_CODE, REQUEST_ID

SECRET_QUERY_KEYS = frozenset({"token", "access_token", "refresh_token", "signature", "sig"})


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    foreign = [*shared, structlog.stdlib.ExtraAdder()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # fpdf2 subsets the job sheets' font through fontTools, which tells of every
    # table it keeps at INFO: hundreds of lines per sheet that say nothing to operators.
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def configure_early(environ: dict[str, str] | None = None) -> None:
    """Logging as the environment asks, before settings are loaded and checked (an
    unknown level or format falls back to info and JSON: settings report it)."""
    env = os.environ if environ is None else environ
    level = env.get("LOG_LEVEL", "info").lower()
    fmt = env.get("LOG_FORMAT", "json").lower()
    configure_logging(
        level if level in ("debug", "info", "warning", "error") else "info",
        fmt if fmt in ("json", "console") else "json",
    )


def redact_query(query_string: str) -> str:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return urlencode([(k, "[redacted]" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs])


def loggable_path(request: web.BaseRequest) -> str:
    query = request.query_string
    return request.path + ("?" + redact_query(query) if query else "")


class AccessLogger(AbstractAccessLogger):
    """One structured line per request; never writes a token from the query."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        extra = {
            "method": request.method,
            "path": loggable_path(request),
            "status": response.status,
            "duration_ms": round(time * 1000, 2),
            "remote": request.remote,
            "request_id": request.get(REQUEST_ID),
        }
        code = request.get(PROBLEM_CODE)
        if code is not None:  # a problem's stable code: what went wrong, not only its status
            extra["code"] = code
        self.logger.info("request", extra=extra)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
