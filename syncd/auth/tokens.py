"""JWTs: short-lived access tokens and long-lived refresh tokens, separate keys.

Access: HS256 with JWT_ACCESS_SECRET, audience `syncd:access`. Refresh: HS256
with JWT_REFRESH_SECRET, audience `syncd:refresh`. The admin console's session
cookie is an access token of audience `syncd:console`. Both carry sub, tid, iat,
exp, jti, iss, aud; access adds role and sid (the refresh family, so a revoked
session stops its access tokens too). Verification pins the algorithm and
requires every claim. Signing is deterministic, so a refresh token can be
re-issued byte for byte from its stored row (the reuse grace period).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import jwt

from protocol.roles import Role
from syncd.i18n import Msg

ALGORITHM = "HS256"
ACCESS_AUDIENCE = "syncd:access"
REFRESH_AUDIENCE = "syncd:refresh"
CONSOLE_AUDIENCE = "syncd:console"  # the admin console's session cookie (syncd/console)
LEEWAY_S = 5


class TokenError(Exception):
    """A token that cannot be used; `expired` tells the client to refresh, and
    `detail` says why (translatable: a problem's detail)."""

    def __init__(self, detail: Msg, *, expired: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expired = expired


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
    jti: uuid.UUID
    expires_at: int


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    jti: uuid.UUID


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def encode_access(
    secret: str,
    issuer: str,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    role: Role,
    session_id: uuid.UUID,
    issued_at: datetime,
    ttl_s: int,
    audience: str = ACCESS_AUDIENCE,
) -> str:
    """An access token; with `audience=CONSOLE_AUDIENCE`, the console's session cookie
    (the same claims, refused as a bearer token and vice versa)."""
    iat = int(issued_at.timestamp())
    claims = {
        "sub": str(user_id),
        "tid": str(tenant_id),
        "role": role.value,
        "sid": str(session_id),
        "iat": iat,
        "exp": iat + ttl_s,
        "jti": str(uuid.uuid4()),
        "iss": issuer,
        "aud": audience,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def encode_refresh(
    secret: str,
    issuer: str,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    jti: uuid.UUID,
    issued_at: datetime,
    expires_at: datetime,
) -> str:
    claims = {
        "sub": str(user_id),
        "tid": str(tenant_id),
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": str(jti),
        "iss": issuer,
        "aud": REFRESH_AUDIENCE,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _decode(
    token: str, secret: str, issuer: str, audience: str, extra: list[str]
) -> dict[str, str]:
    try:
        claims: dict[str, str] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["sub", "tid", "iat", "exp", "jti", "iss", "aud", *extra]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(Msg("the token has expired"), expired=True) from None
    except jwt.PyJWTError as exc:
        # Our own words, never the library's message (it names internals).
        raise TokenError(_reason(exc)) from None
    return claims


def _reason(exc: jwt.PyJWTError) -> Msg:
    """Why a token was refused, in a sentence of ours (translated), by the error's kind."""
    if isinstance(exc, jwt.InvalidSignatureError):
        return Msg("the token's signature does not match")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return Msg("the token is signed with an algorithm this server does not accept")
    if isinstance(exc, jwt.InvalidIssuerError | jwt.InvalidAudienceError):
        return Msg("the token was not issued for this server")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return Msg("the token lacks a required claim")
    if isinstance(exc, jwt.ImmatureSignatureError | jwt.InvalidIssuedAtError):
        return Msg("the token is not valid yet")
    if isinstance(exc, jwt.DecodeError):
        return Msg("the token is not a well-formed JWT")
    return Msg("the token is not valid")


def decode_access(
    token: str, secret: str, issuer: str, audience: str = ACCESS_AUDIENCE
) -> AccessClaims:
    claims = _decode(token, secret, issuer, audience, ["role", "sid"])
    try:
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tid"]),
            role=Role(claims["role"]),
            session_id=uuid.UUID(claims["sid"]),
            jti=uuid.UUID(claims["jti"]),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError):
        raise TokenError(Msg("the token's claims are malformed")) from None


def decode_refresh(token: str, secret: str, issuer: str) -> RefreshClaims:
    claims = _decode(token, secret, issuer, REFRESH_AUDIENCE, [])
    try:
        return RefreshClaims(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tid"]),
            jti=uuid.UUID(claims["jti"]),
        )
    except (ValueError, TypeError):
        raise TokenError(Msg("the token's claims are malformed")) from None
