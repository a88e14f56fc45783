"""Settings read once from the environment, validated, frozen.

Every variable is declared here with its default and rule; `.env.example` and
docs/operations.md list the same names (a test keeps them in step). A bad value
stops the process with exit code 2 and one line naming the variable
(`SettingsError`, raised by `load_settings`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocol import versions

log = structlog.get_logger(__name__)

MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "please-change-me"})


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class Settings(BaseModel):
    """syncd's configuration. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    env: Environment = Field(
        Environment.DEV,
        validation_alias="SYNCD_ENV",
        description=(
            "Which environment syncd runs in; production refuses missing or weak JWT "
            "secrets (read by settings, auth)."
        ),
    )
    var_dir: Path = Field(
        Path("var"),
        validation_alias="SYNCD_VAR_DIR",
        description=(
            "Directory for local state, created when needed: the default database, "
            "generated dev secrets and the default blob directory."
        ),
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias="SYNCD_HOST",
        description="Listen address of `serve` and `up`; `--host` overrides it.",
    )
    port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias="SYNCD_PORT",
        description="Listen port of `serve` and `up`; `--port` overrides it.",
    )
    database_url: str = Field(
        "", validation_alias="DATABASE_URL", description="The database every command uses."
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        le=500,
        validation_alias="DB_POOL_SIZE",
        description=(
            "Connections `serve` keeps in its pool, with as many overflow connections"
            " again; PostgreSQL only."
        ),
    )
    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description=(
            "Redis for the readiness check, login rate limit and job queue (rq: "
            "`syncd worker` runs the jobs; unset: the app runs them in-process), "
            "live fan-out and Yjs relay between processes (pub/sub)."
        ),
    )
    redis_prefix: str = Field(
        "syncd:",
        pattern=r"^[A-Za-z0-9:_\-]{1,64}$",
        validation_alias="REDIS_PREFIX",
        description=("Prefix of every Redis key syncd writes (login rate limit: `<prefix>rl:…`)."),
    )
    jwt_access_secret: str = Field(
        "",
        validation_alias="JWT_ACCESS_SECRET",
        description=(
            "Auth: the secret that signs access tokens; it also keys the local blob "
            "store's signed URLs."
        ),
        repr=False,
    )
    jwt_refresh_secret: str = Field(
        "",
        validation_alias="JWT_REFRESH_SECRET",
        description="Auth: the secret that signs refresh tokens.",
        repr=False,
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias="S3_ENDPOINT_URL",
        description="Blob store (S3): an S3-compatible endpoint (MinIO).",
    )
    s3_bucket: str | None = Field(
        None,
        validation_alias="S3_BUCKET",
        description=(
            "Blob store (S3): when set, blobs live in this bucket (else under `BLOB_DIR`)."
        ),
    )
    s3_region: str = Field(
        "us-east-1",
        validation_alias="S3_REGION",
        description="Blob store (S3): the bucket's region.",
    )
    s3_access_key_id: str | None = Field(
        None,
        validation_alias="S3_ACCESS_KEY_ID",
        description=(
            "Blob store (S3): the access key ID; unset: boto3's default credential chain."
        ),
    )
    s3_secret_access_key: str | None = Field(
        None,
        validation_alias="S3_SECRET_ACCESS_KEY",
        description="Blob store (S3): the secret access key.",
        repr=False,
    )
    blob_dir: Path | None = Field(
        None,
        validation_alias="BLOB_DIR",
        description=(
            "Directory of the local blob store (tenant logos, media, thumbnails; see "
            "*Where data lives*)."
        ),
    )
    s3_upload_method: Literal["put", "post"] = Field(
        "put",
        validation_alias="S3_UPLOAD_METHOD",
        description=(
            "Media uploads to S3: `put` (presigned PUT signing `Content-Type` and "
            "`Content-Length`) or `post` (presigned form with "
            "`content-length-range`)."
        ),
    )
    blob_url_ttl_s: int = Field(
        900,
        ge=30,
        le=604_800,
        validation_alias="BLOB_URL_TTL_SECONDS",
        description=(
            "Lifetime of signed upload and download URLs (local HMAC-signed or S3 presigned)."
        ),
    )
    upload_cleanup_after_s: int = Field(
        86_400,
        ge=600,
        le=30 * 86_400,
        validation_alias="UPLOAD_CLEANUP_AFTER_SECONDS",
        description=(
            "Cleanup job: a media upload still pending this long after it was declared is removed."
        ),
    )
    pdf_engine: str = Field(
        "fpdf2",
        pattern=r"^fpdf2$",
        validation_alias="PDF_ENGINE",
        description="Engine that renders PDF job sheets (jobs/job_sheets.py).",
    )
    base_domain: str = Field(
        "localhost",
        min_length=1,
        validation_alias="BASE_DOMAIN",
        description="Tenant resolution: `<tenant>.BASE_DOMAIN` names a tenant.",
    )
    cors_origins: str = Field(
        "",
        validation_alias="CORS_ORIGINS",
        description="Request middleware: the origins that get CORS headers.",
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        validation_alias="MAX_BODY_BYTES",
        description=("Request middleware: largest request body; a larger body is a 413 problem."),
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        validation_alias="HEADER_TIMEOUT_S",
        description=(
            "HTTP server: a request line and headers not complete this many seconds after "
            "their first byte are cut (a 408 problem, then the connection closes)."
        ),
    )
    body_timeout_s: float = Field(
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
    max_batch_changes: int = Field(
        500,
        ge=1,
        le=10_000,
        validation_alias="MAX_BATCH_CHANGES",
        description=("Sync service: changes per push (413 `batch_too_large` beyond)."),
    )
    sync_min_schema: int = Field(
        versions.OLDEST,
        ge=versions.OLDEST,
        le=versions.CURRENT,
        validation_alias="SYNC_MIN_SCHEMA",
        description=(
            "Sync service: the oldest app schema served (docs/protocol.md, Schema versions); "
            "older apps are refused (426 `client_upgrade_required`, close 4426)."
        ),
    )
    max_clock_skew_s: int = Field(
        300,
        ge=0,
        le=86_400,
        validation_alias="MAX_CLOCK_SKEW_SECONDS",
        description=(
            "Sync service: HLC stamps further ahead of the server clock are clamped to now + this."
        ),
    )
    ws_heartbeat_s: float = Field(
        20.0,
        ge=1,
        le=300,
        validation_alias="WS_HEARTBEAT_SECONDS",
        description="WebSocket `/sync/ws`: ping interval.",
    )
    ws_hello_timeout_s: float = Field(
        10.0,
        ge=0.5,
        le=120,
        validation_alias="WS_HELLO_TIMEOUT_SECONDS",
        description=("WebSocket: time a new socket has to authenticate (close 4408 after)."),
    )
    ws_send_queue: int = Field(
        64,
        ge=1,
        le=10_000,
        validation_alias="WS_SEND_QUEUE",
        description="WebSocket: messages queued per socket.",
    )
    ws_max_sockets_per_user: int = Field(
        8,
        ge=1,
        le=100_000,
        validation_alias="WS_MAX_SOCKETS_PER_USER",
        description=(
            "WebSocket `/sync/ws`: live sockets one user may hold in one process; a newer "
            "one closes the oldest (4409)."
        ),
    )
    tenant_requests_per_s: float = Field(
        100.0,
        ge=0,
        le=1_000_000,
        validation_alias="TENANT_REQUESTS_PER_SECOND",
        description=(
            "Fair limits: one tenant's signed-in requests (REST, push, pull) refill its "
            "budget at this rate, a token bucket shared by every process through Redis "
            "when REDIS_URL is set, per process otherwise; past it: 429 "
            "`tenant_rate_limited` with Retry-After. 0 turns the budget off."
        ),
    )
    tenant_burst: int = Field(
        500,
        ge=1,
        le=1_000_000,
        validation_alias="TENANT_BURST",
        description="Fair limits: the tenant's bucket size, the requests it may make at once.",
    )
    tenant_max_concurrent_pushes: int = Field(
        16,
        ge=1,
        le=100_000,
        validation_alias="TENANT_MAX_CONCURRENT_PUSHES",
        description=(
            "Fair limits: pushes (`/sync/push`, `/sync/tasks`, `/sync/ws` push frames) of "
            "one tenant running at once in one process; one more answers 429 "
            "`too_many_pushes` (Retry-After: 1)."
        ),
    )
    tenant_max_live_sockets: int = Field(
        1_000,
        ge=1,
        le=1_000_000,
        validation_alias="TENANT_MAX_LIVE_SOCKETS",
        description=(
            "Fair limits: live sockets (`/sync/ws` and `/sync/yjs` together) of one tenant "
            "in one process; one more is closed once authenticated with 4429 (reconnect "
            "later, or pull over HTTP)."
        ),
    )
    process_max_concurrent_pushes: int = Field(
        64,
        ge=1,
        le=1_000_000,
        validation_alias="PROCESS_MAX_CONCURRENT_PUSHES",
        description=(
            "Fair limits: pushes (HTTP and `/sync/ws` push frames) of every tenant running "
            "at once in one process; one more answers 429 `server_busy` (Retry-After: 1). "
            "Keep it above TENANT_MAX_CONCURRENT_PUSHES, so one tenant never fills it."
        ),
    )
    process_max_live_sockets: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        validation_alias="PROCESS_MAX_LIVE_SOCKETS",
        description=(
            "Fair limits: sockets (`/sync/ws` and `/sync/yjs`) of every tenant in one "
            "process; one more is closed once authenticated with 4429 (reconnect later, "
            "with backoff). Keep it above TENANT_MAX_LIVE_SOCKETS."
        ),
    )
    yjs_max_sockets_per_user: int = Field(
        32,
        ge=1,
        le=100_000,
        validation_alias="YJS_MAX_SOCKETS_PER_USER",
        description=(
            "WebSocket `/sync/yjs`: editing sockets one user may hold in one process (one "
            "per open document); a newer one closes the oldest (4409)."
        ),
    )
    ws_slow_client_s: float = Field(
        30.0,
        ge=0.1,
        le=600,
        validation_alias="WS_SLOW_CLIENT_SECONDS",
        description=("WebSocket: a socket whose queue stays full this long is closed (4429)."),
    )
    max_ws_frame_bytes: int = Field(
        1_048_576,
        ge=1024,
        validation_alias="MAX_WS_FRAME_BYTES",
        description="WebSocket: largest frame (close 1009 beyond).",
    )
    max_upload_bytes: int = Field(
        25 * 1_048_576,
        ge=1024,
        validation_alias="MAX_UPLOAD_BYTES",
        description=(
            "Media uploads: `POST /media/uploads` refuses a larger `size` (413 `upload_too_large`)."
        ),
    )
    max_logo_bytes: int = Field(
        1_048_576,
        ge=1024,
        validation_alias="MAX_LOGO_BYTES",
        description=("Tenant logo upload: largest logo (413 `logo_too_large` beyond)."),
    )
    log_level: str = Field(
        "info",
        pattern=r"^(debug|info|warning|error)$",
        validation_alias="LOG_LEVEL",
        description="Logging: the lowest level written.",
    )
    log_format: str = Field(
        "json",
        pattern=r"^(json|console)$",
        validation_alias="LOG_FORMAT",
        description="Logging: the output format.",
    )
    metrics_token: str | None = Field(
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
    access_token_ttl_s: int = Field(
        900,
        ge=60,
        le=86_400,
        validation_alias="ACCESS_TOKEN_TTL_SECONDS",
        description="Auth: lifetime of an access token.",
    )
    refresh_token_ttl_s: int = Field(
        30 * 86_400,
        ge=3600,
        le=365 * 86_400,
        validation_alias="REFRESH_TOKEN_TTL_SECONDS",
        description="Auth: lifetime of a refresh token.",
    )
    refresh_reuse_grace_s: int = Field(
        30,
        ge=0,
        le=600,
        validation_alias="REFRESH_REUSE_GRACE_SECONDS",
        description=(
            "Auth: how long a just-rotated refresh token may be presented again and "
            "get the same successor; `0` turns the grace off (see decisions.md, 10)."
        ),
    )
    jwt_issuer: str = Field(
        "syncd",
        min_length=1,
        validation_alias="JWT_ISSUER",
        description="Auth: the `iss` claim, checked on every token.",
    )
    allow_register: bool | None = Field(
        None,
        validation_alias="AUTH_ALLOW_REGISTER",
        description="Auth: whether anyone may register an account.",
    )
    login_rate_limit: int = Field(
        10,
        ge=1,
        le=10_000,
        validation_alias="LOGIN_RATE_LIMIT",
        description=(
            "Auth: failed logins allowed per account (tenant + email) per window; then"
            " that account alone is refused with `429 login_throttled`."
        ),
    )
    login_ip_rate_limit: int = Field(
        200,
        ge=1,
        le=1_000_000,
        validation_alias="LOGIN_IP_RATE_LIMIT",
        description=(
            "Auth: failed logins allowed per client address per window, across accounts"
            " and tenants; kept loose, as an office or a carrier NAT is one address."
        ),
    )
    login_rate_window_s: int = Field(
        300,
        ge=1,
        le=86_400,
        validation_alias="LOGIN_RATE_WINDOW_SECONDS",
        description="Auth: the window of both login limits (and of password-reset requests).",
    )
    trusted_proxies: str = Field(
        "",
        validation_alias="TRUSTED_PROXIES",
        description=(
            "Client address: comma-separated addresses or CIDR networks of the reverse"
            " proxies in front of syncd. Only when the peer is one of them does"
            " `X-Forwarded-For` (or `Forwarded`) name the client; empty: never trusted."
        ),
    )
    bcrypt_rounds: int = Field(
        12,
        ge=4,
        le=16,
        validation_alias="BCRYPT_ROUNDS",
        description="Auth: bcrypt cost of new password hashes.",
    )
    console_session_ttl_s: int = Field(
        8 * 3600,
        ge=300,
        le=7 * 86_400,
        validation_alias="CONSOLE_SESSION_TTL_SECONDS",
        description=(
            "Admin console (`/console/`): lifetime of a sign-in's session cookie; logout, "
            "deactivation and a password change end it sooner."
        ),
    )
    console_device_alert_s: int = Field(
        86_400,
        ge=60,
        le=90 * 86_400,
        validation_alias="CONSOLE_DEVICE_ALERT_SECONDS",
        description=(
            "Admin console, devices page: a device silent this long, or with a rejected "
            "change left open this long, is highlighted."
        ),
    )
    invite_ttl_s: int = Field(
        7 * 86_400,
        ge=600,
        validation_alias="INVITE_TTL_SECONDS",
        description="User invitations: how long an invitation stays valid.",
    )
    password_reset_ttl_s: int = Field(
        3600,
        ge=300,
        le=7 * 86_400,
        validation_alias="PASSWORD_RESET_TTL_SECONDS",
        description="Password recovery: how long a reset token stays valid (it is single use).",
    )
    password_reset_rate_limit: int = Field(
        5,
        ge=1,
        le=1000,
        validation_alias="PASSWORD_RESET_RATE_LIMIT",
        description=(
            "Password recovery: `POST /auth/forgot-password` requests allowed per account"
            " (tenant + email, known or not) per `LOGIN_RATE_WINDOW_SECONDS`; per client"
            " address, `LOGIN_IP_RATE_LIMIT` applies."
        ),
    )
    smtp_url: str | None = Field(
        None,
        validation_alias="SMTP_URL",
        description=(
            "Mail server (user and password in the URL if it wants them); without it,"
            " mail stays `pending` in the outbox (see *Mail*)."
        ),
    )
    mail_from: str = Field(
        "syncd <no-reply@localhost>",
        validation_alias="MAIL_FROM",
        description="Mail: sender address (`From` header).",
    )
    seed_admin_email: str | None = Field(
        None,
        validation_alias="SYNCD_SEED_ADMIN_EMAIL",
        description="`seed`, `up`: email of the demo tenant's admin, lower-cased.",
    )
    seed_admin_password: str | None = Field(
        None,
        validation_alias="SYNCD_SEED_ADMIN_PASSWORD",
        description="`seed`, `up`: password of the demo tenant's admin.",
        repr=False,
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            if value.startswith(("postgres://", "postgresql://")):
                return "postgresql+asyncpg://" + value.split("://", 1)[1]
            if value.startswith("sqlite://"):
                return "sqlite+aiosqlite://" + value.split("://", 1)[1]
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must be an smtp:// or smtps:// URL")
        return value

    @field_validator("seed_admin_password")
    @classmethod
    def _seed_password(cls, value: str | None) -> str | None:
        if value is not None:
            from syncd.passwords import PasswordPolicyError, check_policy

            try:
                check_policy(value)
            except PasswordPolicyError as exc:
                raise ValueError(f"the password {exc}") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an http(s) origin")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for network in _split(value):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or CIDR network") from None
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.s3_bucket is None and self.s3_endpoint_url is not None:
            raise ValueError("S3_BUCKET: required when S3_ENDPOINT_URL is set")
        return self

    @property
    def register_enabled(self) -> bool:
        if self.allow_register is not None:
            return self.allow_register
        return self.env is not Environment.PRODUCTION

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(_split(self.cors_origins))

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in _split(self.trusted_proxies))

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def blob_root(self) -> Path:
        return self.blob_dir if self.blob_dir is not None else self.var_dir / "blobs"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read, validate and complete the settings; raise SettingsError on a bad one."""
    source = dict(os.environ if environ is None else environ)
    try:
        # An empty variable means "unset", as it does for most tools.
        given = {k: v for k, v in source.items() if k in ENV_VARIABLES and v != ""}
        settings = Settings.model_validate(given)
    except ValidationError as exc:
        raise _first_error(exc) from None
    updates: dict[str, Any] = {}
    if not settings.database_url:
        updates["database_url"] = f"sqlite+aiosqlite:///{settings.var_dir / 'syncd.db'}"
    updates.update(_secrets(settings))
    return settings.model_copy(update=updates) if updates else settings


def _first_error(exc: ValidationError) -> SettingsError:
    error = exc.errors()[0]
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid"))
    if loc:
        variable = _ALIASES.get(str(loc[0]), str(loc[0]))
    else:
        variable, _, message = message.removeprefix("Value error, ").partition(": ")
    return SettingsError(variable, message.removeprefix("Value error, "))


def _secrets(settings: Settings) -> dict[str, str]:
    """Check the JWT secrets; in dev and test, generate missing ones once into var/."""
    names = {"jwt_access_secret": "JWT_ACCESS_SECRET", "jwt_refresh_secret": "JWT_REFRESH_SECRET"}
    missing = [f for f in names if not getattr(settings, f)]
    if settings.is_production:
        for field, variable in names.items():
            value: str = getattr(settings, field)
            if field in missing:
                raise SettingsError(variable, "is required when SYNCD_ENV=production")
            if value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    variable, f"must be a random string of at least {MIN_SECRET_LENGTH} characters"
                )
        if settings.jwt_access_secret == settings.jwt_refresh_secret:
            raise SettingsError("JWT_REFRESH_SECRET", "must differ from JWT_ACCESS_SECRET")
        return {}
    if not missing:
        return {}
    stored = _generated_secrets(settings.var_dir)
    return {field: stored[names[field]] for field in missing}


def _generated_secrets(var_dir: Path) -> dict[str, str]:
    path = var_dir / "secrets.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data
    var_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
        "JWT_REFRESH_SECRET": secrets.token_urlsafe(48),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    log.warning("generated development JWT secrets", path=str(path))
    return data


_ALIASES: dict[str, str] = {
    str(field.validation_alias): str(field.validation_alias)
    for field in Settings.model_fields.values()
}
_ALIASES.update(
    {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}
)

ENV_VARIABLES: tuple[str, ...] = tuple(
    str(field.validation_alias) for field in Settings.model_fields.values()
)
