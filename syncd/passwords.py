"""Password hashing with bcrypt, with its 72-byte input limit made explicit.

bcrypt only ever reads the first 72 bytes of a password (bcrypt 5 raises
instead of truncating). syncd refuses longer passwords with a clear rule
rather than silently ignoring their tail.
"""

from __future__ import annotations

import bcrypt

from syncd.i18n import Msg

MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 10
BCRYPT_ROUNDS = 12


class PasswordPolicyError(ValueError):
    """The password breaks the policy; `rule` says which, as the end of a sentence
    ("the password {rule}")."""

    def __init__(self, rule: Msg) -> None:
        super().__init__(rule)
        self.rule = rule


def check_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordPolicyError(
            Msg("must be at least {count} characters", count=MIN_PASSWORD_CHARS)
        )
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError(
            Msg("must be at most {count} bytes in UTF-8", count=MAX_PASSWORD_BYTES)
        )
    if password.strip() == "" or len(set(password)) < 4:
        raise PasswordPolicyError(Msg("is too simple"))


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    check_policy(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, hashed: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, hashed.encode("ascii"))
