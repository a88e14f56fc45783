"""`syncd create-operator` as an operator runs it, then the operator at work over HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from syncd.passwords import verify_password
from tests.support.processes import SYNCD, clean_env, free_port, wait_ready

pytestmark = pytest.mark.e2e
PASSWORD = "an-operator-password-1"


def syncd(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, *args],
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def operators(tmp_path: Path) -> list[tuple[str, str, int, str, int]]:
    """(email, role, is_platform_operator, password_hash, tenant is_system) of system users."""
    with sqlite3.connect(tmp_path / "var" / "syncd.db") as db:
        return db.execute(
            "SELECT u.email, u.role, u.is_platform_operator, u.password_hash, t.is_system "
            "FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = 'system'"
        ).fetchall()


def request(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_create_operator_then_manage_tenants_over_http(tmp_path: Path) -> None:
    assert syncd(tmp_path, "migrate").returncode == 0
    first = syncd(
        tmp_path, "create-operator", "--email", "Ops@Example.com", SYNCD_OPERATOR_PASSWORD=PASSWORD
    )
    assert first.returncode == 0, first.stderr
    assert "created platform operator ops@example.com in tenant 'system'" in first.stdout
    assert PASSWORD not in first.stdout
    [(email, role, flag, hashed, is_system)] = operators(tmp_path)
    assert (email, role, flag, is_system) == ("ops@example.com", "admin", 1, 1)
    assert verify_password(PASSWORD, hashed)

    port = free_port()
    server = subprocess.Popen(
        [*SYNCD, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/health/ready", server)
        status, tokens = request(
            base + "/auth/login",
            "POST",
            {"email": "ops@example.com", "password": PASSWORD},
            {"X-Tenant": "system"},
        )
        assert status == 200, tokens
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        status, created = request(
            base + "/platform/tenants", "POST", {"slug": "acme", "name": "Acme"}, auth
        )
        assert (status, created["slug"]) == (201, "acme")
        status, listed = request(base + "/platform/tenants?q=acme", headers=auth)
        assert (status, [t["slug"] for t in listed["items"]]) == (200, ["acme"])
        status, me = request(base + "/auth/me", headers=auth)
        assert me["is_platform_operator"] is True
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_generated_password_is_shown_once_and_promotion_keeps_it(tmp_path: Path) -> None:
    assert syncd(tmp_path, "migrate").returncode == 0
    seeded = syncd(tmp_path, "seed")
    assert "created the system tenant 'system'" in seeded.stdout
    with sqlite3.connect(tmp_path / "var" / "syncd.db") as db:
        system = db.execute("SELECT is_system, is_active FROM tenants WHERE slug = 'system'")
        assert system.fetchall() == [(1, 1)]
    first = syncd(tmp_path, "create-operator", "--email", "root@example.com")
    assert first.returncode == 0, first.stderr
    found = re.search(r"with password (\S+) \(shown once\)", first.stdout)
    assert found is not None, first.stdout
    generated = found.group(1)
    with sqlite3.connect(tmp_path / "var" / "syncd.db") as db:
        db.execute(
            "UPDATE users SET is_platform_operator = 0, role = 'staff' "
            "WHERE email = 'root@example.com'"
        )
    again = syncd(tmp_path, "create-operator", "--email", "root@example.com")
    assert again.returncode == 0, again.stderr
    assert "promoted platform operator root@example.com" in again.stdout
    assert "password" not in again.stdout
    [(_, role, flag, hashed, _)] = operators(tmp_path)
    assert (role, flag) == ("admin", 1)
    assert verify_password(generated, hashed)
    with sqlite3.connect(tmp_path / "var" / "syncd.db") as db:
        (count,) = db.execute("SELECT count(*) FROM tenants WHERE slug = 'system'").fetchone()
        actions = db.execute(
            "SELECT action FROM audit_log a JOIN tenants t ON t.id = a.tenant_id "
            "WHERE t.slug = 'system' ORDER BY a.id"
        ).fetchall()
    assert count == 1
    assert actions == [("platform_operator_granted",), ("platform_operator_granted",)]


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "is not an email address"),
        ("ops@example.com", "short", "SYNCD_OPERATOR_PASSWORD: the password must be at least"),
    ],
)
def test_bad_input_exits_1_with_one_line(
    tmp_path: Path, email: str, password: str, message: str
) -> None:
    assert syncd(tmp_path, "migrate").returncode == 0
    result = syncd(tmp_path, "create-operator", "--email", email, SYNCD_OPERATOR_PASSWORD=password)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert operators(tmp_path) == []
