"""Settings read once from the environment, validated, frozen.

Every variable is a field here, in the order docs/operations.md lists them;
its default, bounds and meaning are declared by concern under syncd/config/.
`.env.example` and docs/operations.md list the same names (a test keeps them
in step). A bad value
stops the process with exit code 2 and one line naming the variable
(`SettingsError`, raised by `load_settings`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from syncd.config import accounts, blobs, limits, mail, server, sync
from syncd.config.environment import Environment as Environment  # imported from here

log = structlog.get_logger(__name__)

MIN_SECRET_LENGTH = 32
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "please-change-me"})


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class Settings(BaseModel):
    """syncd's configuration. Field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    env: Environment = server.SYNCD_ENV
    var_dir: Path = server.SYNCD_VAR_DIR
    host: str = server.SYNCD_HOST
    port: int = server.SYNCD_PORT
    database_url: str = server.DATABASE_URL
    db_pool_size: int = server.DB_POOL_SIZE
    redis_url: str | None = server.REDIS_URL
    redis_prefix: str = server.REDIS_PREFIX
    jwt_access_secret: str = accounts.JWT_ACCESS_SECRET
    jwt_refresh_secret: str = accounts.JWT_REFRESH_SECRET
    s3_endpoint_url: str | None = blobs.S3_ENDPOINT_URL
    s3_bucket: str | None = blobs.S3_BUCKET
    s3_region: str = blobs.S3_REGION
    s3_access_key_id: str | None = blobs.S3_ACCESS_KEY_ID
    s3_secret_access_key: str | None = blobs.S3_SECRET_ACCESS_KEY
    blob_dir: Path | None = blobs.BLOB_DIR
    s3_upload_method: Literal["put", "post"] = blobs.S3_UPLOAD_METHOD
    blob_url_ttl_s: int = blobs.BLOB_URL_TTL_SECONDS
    upload_cleanup_after_s: int = blobs.UPLOAD_CLEANUP_AFTER_SECONDS
    pdf_engine: str = blobs.PDF_ENGINE
    base_domain: str = server.BASE_DOMAIN
    cors_origins: str = server.CORS_ORIGINS
    max_body_bytes: int = server.MAX_BODY_BYTES
    header_timeout_s: float = server.HEADER_TIMEOUT_S
    body_timeout_s: float = server.BODY_TIMEOUT_S
    max_batch_changes: int = sync.MAX_BATCH_CHANGES
    sync_min_schema: int = sync.SYNC_MIN_SCHEMA
    max_clock_skew_s: int = sync.MAX_CLOCK_SKEW_SECONDS
    ws_heartbeat_s: float = sync.WS_HEARTBEAT_SECONDS
    ws_hello_timeout_s: float = sync.WS_HELLO_TIMEOUT_SECONDS
    ws_send_queue: int = sync.WS_SEND_QUEUE
    ws_max_sockets_per_user: int = sync.WS_MAX_SOCKETS_PER_USER
    tenant_requests_per_s: float = limits.TENANT_REQUESTS_PER_SECOND
    tenant_burst: int = limits.TENANT_BURST
    tenant_max_concurrent_pushes: int = limits.TENANT_MAX_CONCURRENT_PUSHES
    tenant_max_live_sockets: int = limits.TENANT_MAX_LIVE_SOCKETS
    process_max_concurrent_pushes: int = limits.PROCESS_MAX_CONCURRENT_PUSHES
    process_max_live_sockets: int = limits.PROCESS_MAX_LIVE_SOCKETS
    yjs_max_sockets_per_user: int = sync.YJS_MAX_SOCKETS_PER_USER
    ws_slow_client_s: float = sync.WS_SLOW_CLIENT_SECONDS
    max_ws_frame_bytes: int = sync.MAX_WS_FRAME_BYTES
    max_upload_bytes: int = blobs.MAX_UPLOAD_BYTES
    max_logo_bytes: int = blobs.MAX_LOGO_BYTES
    log_level: str = server.LOG_LEVEL
    log_format: str = server.LOG_FORMAT
    metrics_token: str | None = server.METRICS_TOKEN
    access_token_ttl_s: int = accounts.ACCESS_TOKEN_TTL_SECONDS
    refresh_token_ttl_s: int = accounts.REFRESH_TOKEN_TTL_SECONDS
    refresh_reuse_grace_s: int = accounts.REFRESH_REUSE_GRACE_SECONDS
    jwt_issuer: str = accounts.JWT_ISSUER
    allow_register: bool | None = accounts.AUTH_ALLOW_REGISTER
    login_rate_limit: int = accounts.LOGIN_RATE_LIMIT
    login_ip_rate_limit: int = accounts.LOGIN_IP_RATE_LIMIT
    login_rate_window_s: int = accounts.LOGIN_RATE_WINDOW_SECONDS
    trusted_proxies: str = server.TRUSTED_PROXIES
    bcrypt_rounds: int = accounts.BCRYPT_ROUNDS
    console_session_ttl_s: int = accounts.CONSOLE_SESSION_TTL_SECONDS
    console_device_alert_s: int = accounts.CONSOLE_DEVICE_ALERT_SECONDS
    invite_ttl_s: int = accounts.INVITE_TTL_SECONDS
    password_reset_ttl_s: int = accounts.PASSWORD_RESET_TTL_SECONDS
    password_reset_rate_limit: int = accounts.PASSWORD_RESET_RATE_LIMIT
    smtp_url: str | None = mail.SMTP_URL
    mail_from: str = mail.MAIL_FROM
    seed_admin_email: str | None = mail.SYNCD_SEED_ADMIN_EMAIL
    seed_admin_password: str | None = mail.SYNCD_SEED_ADMIN_PASSWORD

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
