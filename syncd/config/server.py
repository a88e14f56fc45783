"""Settings: the process, its database and Redis, the HTTP edge, logs and metrics.

Where syncd keeps its state and listens, which database and Redis it uses, what the
request middlewares and the HTTP server accept, and how it logs and is scraped.
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from syncd.config.environment import Environment

SYNCD_ENV = Field(
    Environment.DEV,
    validation_alias="SYNCD_ENV",
    description=(
        "Which environment syncd runs in; production refuses missing or weak JWT "
        "secrets (read by settings, auth)."
    ),
)
SYNCD_VAR_DIR = Field(
    Path("var"),
    validation_alias="SYNCD_VAR_DIR",
    description=(
        "Directory for local state, created when needed: the default database, "
        "generated dev secrets and the default blob directory."
    ),
)
SYNCD_HOST = Field(
    "127.0.0.1",
    validation_alias="SYNCD_HOST",
    description="Listen address of `serve` and `up`; `--host` overrides it.",
)
SYNCD_PORT = Field(
    8080,
    ge=1,
    le=65535,
    validation_alias="SYNCD_PORT",
    description="Listen port of `serve` and `up`; `--port` overrides it.",
)
DATABASE_URL = Field(
    "", validation_alias="DATABASE_URL", description="The database every command uses."
)
DB_POOL_SIZE = Field(
    10,
    ge=1,
    le=500,
    validation_alias="DB_POOL_SIZE",
    description=(
        "Connections `serve` keeps in its pool, with as many overflow connections"
        " again; PostgreSQL only."
    ),
)
REDIS_URL = Field(
    None,
    validation_alias="REDIS_URL",
    description=(
        "Redis for the readiness check, login rate limit and job queue (rq: "
        "`syncd worker` runs the jobs; unset: the app runs them in-process), "
        "live fan-out and Yjs relay between processes (pub/sub)."
    ),
)
REDIS_PREFIX = Field(
    "syncd:",
    pattern=r"^[A-Za-z0-9:_\-]{1,64}$",
    validation_alias="REDIS_PREFIX",
    description=("Prefix of every Redis key syncd writes (login rate limit: `<prefix>rl:…`)."),
)
BASE_DOMAIN = Field(
    "localhost",
    min_length=1,
    validation_alias="BASE_DOMAIN",
    description="Tenant resolution: `<tenant>.BASE_DOMAIN` names a tenant.",
)
CORS_ORIGINS = Field(
    "",
    validation_alias="CORS_ORIGINS",
    description="Request middleware: the origins that get CORS headers.",
)
MAX_BODY_BYTES = Field(
    1_048_576,
    ge=1024,
    validation_alias="MAX_BODY_BYTES",
    description=("Request middleware: largest request body; a larger body is a 413 problem."),
)
HEADER_TIMEOUT_S = Field(
    10.0,
    gt=0,
    le=300,
    validation_alias="HEADER_TIMEOUT_S",
    description=(
        "HTTP server: a request line and headers not complete this many seconds after "
        "their first byte are cut (a 408 problem, then the connection closes)."
    ),
)
BODY_TIMEOUT_S = Field(
    30.0,
    gt=0,
    le=3600,
    validation_alias="BODY_TIMEOUT_S",
    description=(
        "HTTP server: a request body not complete this many seconds after its headers "
        "is a 408 problem, and the connection closes (a streamed upload: the longest "
        "pause between two parts)."
    ),
)
LOG_LEVEL = Field(
    "info",
    pattern=r"^(debug|info|warning|error)$",
    validation_alias="LOG_LEVEL",
    description="Logging: the lowest level written.",
)
LOG_FORMAT = Field(
    "json",
    pattern=r"^(json|console)$",
    validation_alias="LOG_FORMAT",
    description="Logging: the output format.",
)
METRICS_TOKEN = Field(
    None,
    min_length=16,
    validation_alias="METRICS_TOKEN",
    description=(
        "`GET /metrics`: when set, scrapes need `Authorization: Bearer "
        "<METRICS_TOKEN>`; unset, `/metrics` is open outside production and 404 "
        "in production."
    ),
    repr=False,
)
TRUSTED_PROXIES = Field(
    "",
    validation_alias="TRUSTED_PROXIES",
    description=(
        "Client address: comma-separated addresses or CIDR networks of the reverse"
        " proxies in front of syncd. Only when the peer is one of them does"
        " `X-Forwarded-For` (or `Forwarded`) name the client; empty: never trusted."
    ),
)
