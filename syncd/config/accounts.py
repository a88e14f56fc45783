"""Settings: accounts: tokens, login limits, console sessions, invitations, password recovery.

The JWT secrets and lifetimes, login throttling, password hashing, the admin
console's session, invitations and password resets.
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from pydantic import Field

JWT_ACCESS_SECRET = Field(
    "",
    validation_alias="JWT_ACCESS_SECRET",
    description=(
        "Auth: the secret that signs access tokens; it also keys the local blob "
        "store's signed URLs."
    ),
    repr=False,
)
JWT_REFRESH_SECRET = Field(
    "",
    validation_alias="JWT_REFRESH_SECRET",
    description="Auth: the secret that signs refresh tokens.",
    repr=False,
)
ACCESS_TOKEN_TTL_SECONDS = Field(
    900,
    ge=60,
    le=86_400,
    validation_alias="ACCESS_TOKEN_TTL_SECONDS",
    description="Auth: lifetime of an access token.",
)
REFRESH_TOKEN_TTL_SECONDS = Field(
    30 * 86_400,
    ge=3600,
    le=365 * 86_400,
    validation_alias="REFRESH_TOKEN_TTL_SECONDS",
    description="Auth: lifetime of a refresh token.",
)
REFRESH_REUSE_GRACE_SECONDS = Field(
    30,
    ge=0,
    le=600,
    validation_alias="REFRESH_REUSE_GRACE_SECONDS",
    description=(
        "Auth: how long a just-rotated refresh token may be presented again and "
        "get the same successor; `0` turns the grace off (see decisions.md, 10)."
    ),
)
JWT_ISSUER = Field(
    "syncd",
    min_length=1,
    validation_alias="JWT_ISSUER",
    description="Auth: the `iss` claim, checked on every token.",
)
AUTH_ALLOW_REGISTER = Field(
    None,
    validation_alias="AUTH_ALLOW_REGISTER",
    description="Auth: whether anyone may register an account.",
)
LOGIN_RATE_LIMIT = Field(
    10,
    ge=1,
    le=10_000,
    validation_alias="LOGIN_RATE_LIMIT",
    description=(
        "Auth: failed logins allowed per account (tenant + email) per window; then"
        " that account alone is refused with `429 login_throttled`."
    ),
)
LOGIN_IP_RATE_LIMIT = Field(
    200,
    ge=1,
    le=1_000_000,
    validation_alias="LOGIN_IP_RATE_LIMIT",
    description=(
        "Auth: failed logins allowed per client address per window, across accounts"
        " and tenants; kept loose, as an office or a carrier NAT is one address."
    ),
)
LOGIN_RATE_WINDOW_SECONDS = Field(
    300,
    ge=1,
    le=86_400,
    validation_alias="LOGIN_RATE_WINDOW_SECONDS",
    description="Auth: the window of both login limits (and of password-reset requests).",
)
BCRYPT_ROUNDS = Field(
    12,
    ge=4,
    le=16,
    validation_alias="BCRYPT_ROUNDS",
    description="Auth: bcrypt cost of new password hashes.",
)
CONSOLE_SESSION_TTL_SECONDS = Field(
    8 * 3600,
    ge=300,
    le=7 * 86_400,
    validation_alias="CONSOLE_SESSION_TTL_SECONDS",
    description=(
        "Admin console (`/console/`): lifetime of a sign-in's session cookie; logout, "
        "deactivation and a password change end it sooner."
    ),
)
CONSOLE_DEVICE_ALERT_SECONDS = Field(
    86_400,
    ge=60,
    le=90 * 86_400,
    validation_alias="CONSOLE_DEVICE_ALERT_SECONDS",
    description=(
        "Admin console, devices page: a device silent this long, or with a rejected "
        "change left open this long, is highlighted."
    ),
)
INVITE_TTL_SECONDS = Field(
    7 * 86_400,
    ge=600,
    validation_alias="INVITE_TTL_SECONDS",
    description="User invitations: how long an invitation stays valid.",
)
PASSWORD_RESET_TTL_SECONDS = Field(
    3600,
    ge=300,
    le=7 * 86_400,
    validation_alias="PASSWORD_RESET_TTL_SECONDS",
    description="Password recovery: how long a reset token stays valid (it is single use).",
)
PASSWORD_RESET_RATE_LIMIT = Field(
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
