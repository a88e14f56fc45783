"""Password policy and bcrypt's 72-byte rule."""

from __future__ import annotations

import pytest

from syncd.passwords import (
    MAX_PASSWORD_BYTES,
    PasswordPolicyError,
    check_policy,
    hash_password,
    verify_password,
)


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse battery", rounds=4)
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("correct horse batterY", hashed)


@pytest.mark.parametrize(
    ("password", "rule"),
    [("short", "at least"), ("aaaaaaaaaaaa", "too simple"), ("ش" * 37, "at most 72 bytes")],
)
def test_policy(password: str, rule: str) -> None:
    with pytest.raises(PasswordPolicyError, match=rule):
        check_policy(password)


def test_over_72_bytes_is_refused_before_bcrypt() -> None:
    long = "Aa1!" * 19  # 76 bytes
    assert len(long.encode()) > MAX_PASSWORD_BYTES
    with pytest.raises(PasswordPolicyError):
        hash_password(long, rounds=4)
    assert not verify_password(long, hash_password("Aa1!" * 18, rounds=4))
