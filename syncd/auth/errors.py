"""Auth problems, each with its own stable code."""

from __future__ import annotations

from syncd.i18n import Msg
from syncd.passwords import PasswordPolicyError, check_policy
from syncd.web.problems import Conflict, Forbidden, Problem, TooManyRequests, Unauthorized


class TokenMissing(Unauthorized):
    code = "token_missing"
    title = "A bearer token is required"


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    title = "The token is not valid"


class TokenExpired(Unauthorized):
    code = "token_expired"
    title = "The token has expired"


class SessionRevoked(Unauthorized):
    code = "session_revoked"
    title = "The session has ended"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Wrong email or password"


class RefreshInvalid(Unauthorized):
    code = "refresh_invalid"
    title = "The refresh token cannot be used"


class RefreshReused(Unauthorized):
    code = "refresh_reused"
    title = "The refresh token was already used; the session is revoked"


class SlugTaken(Conflict):
    code = "slug_taken"
    title = "The tenant slug is taken or reserved"


class PermissionDenied(Forbidden):
    code = "permission_denied"
    title = "Your role does not allow this"


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    title = "Too many failed logins; try again later"


class PasswordPolicy(Problem):
    status = 422
    code = "password_policy"
    title = "The password does not meet the policy"


def checked_password(password: str) -> str:
    """`password`, or PasswordPolicy naming the rule it breaks."""
    try:
        check_policy(password)
    except PasswordPolicyError as exc:
        raise PasswordPolicy(
            Msg("the password {rule}", rule=exc.rule),
            errors=[{"field": "password", "code": "password_policy", "message": exc.rule}],
        ) from None
    return password
