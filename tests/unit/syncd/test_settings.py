"""Settings: defaults, validation, generated dev secrets, production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.settings import ENV_VARIABLES, Environment, SettingsError, load_settings

STRONG = "x" * 40


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings({"SYNCD_VAR_DIR": str(tmp_path)})
    assert settings.env is Environment.DEV
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'syncd.db'}"
    assert settings.redis_url is None
    assert settings.blob_root == tmp_path / "blobs"
    assert settings.cors_origin_list == ()


def test_dev_generates_secrets_once_into_var(tmp_path: Path) -> None:
    first = load_settings({"SYNCD_VAR_DIR": str(tmp_path)})
    second = load_settings({"SYNCD_VAR_DIR": str(tmp_path)})
    assert len(first.jwt_access_secret) >= 32
    assert first.jwt_access_secret != first.jwt_refresh_secret
    assert (first.jwt_access_secret, first.jwt_refresh_secret) == (
        second.jwt_access_secret,
        second.jwt_refresh_secret,
    )
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_production_without_secrets_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SYNCD_ENV": "production", "SYNCD_VAR_DIR": str(tmp_path)})
    assert caught.value.variable == "JWT_ACCESS_SECRET"
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"JWT_ACCESS_SECRET": "changeme", "JWT_REFRESH_SECRET": STRONG}, "JWT_ACCESS_SECRET"),
        ({"JWT_ACCESS_SECRET": STRONG, "JWT_REFRESH_SECRET": "short"}, "JWT_REFRESH_SECRET"),
        ({"JWT_ACCESS_SECRET": STRONG, "JWT_REFRESH_SECRET": STRONG}, "JWT_REFRESH_SECRET"),
    ],
)
def test_production_refuses_weak_secrets(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SYNCD_ENV": "production", **environ})
    assert caught.value.variable == variable


def test_production_with_strong_secrets_loads() -> None:
    settings = load_settings(
        {
            "SYNCD_ENV": "production",
            "JWT_ACCESS_SECRET": STRONG,
            "JWT_REFRESH_SECRET": "y" * 40,
            "DATABASE_URL": "postgres://u@db/syncd",
        }
    )
    assert settings.is_production
    assert settings.database_url == "postgresql+asyncpg://u@db/syncd"
    assert settings.uses_postgres


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SYNCD_PORT", "http"),
        ("SYNCD_PORT", "70000"),
        ("SYNCD_ENV", "staging"),
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "http://localhost"),
        ("CORS_ORIGINS", "example.com"),
        ("MAX_BODY_BYTES", "10"),
        ("LOG_LEVEL", "loud"),
        ("PDF_ENGINE", "latex"),
        ("WS_MAX_SOCKETS_PER_USER", "0"),
        ("WS_MAX_SOCKETS_PER_USER", "many"),
        ("YJS_MAX_SOCKETS_PER_USER", "0"),
        ("YJS_MAX_SOCKETS_PER_USER", "100001"),
    ],
)
def test_bad_value_names_its_variable(variable: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value, "SYNCD_VAR_DIR": str(tmp_path)})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ": ")


def test_s3_endpoint_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"S3_ENDPOINT_URL": "http://127.0.0.1:9000", "SYNCD_VAR_DIR": str(tmp_path)})
    assert caught.value.variable == "S3_BUCKET"


def test_sqlite_scheme_is_normalised_and_cors_split(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "sqlite:///x.db",
            "CORS_ORIGINS": "https://a.example, http://b.example",
            "REDIS_URL": "",
            "SYNCD_VAR_DIR": str(tmp_path),
        }
    )
    assert settings.database_url == "sqlite+aiosqlite:///x.db"
    assert settings.cors_origin_list == ("https://a.example", "http://b.example")
    assert settings.redis_url is None


def test_every_variable_is_upper_case_and_unique() -> None:
    assert len(set(ENV_VARIABLES)) == len(ENV_VARIABLES)
    assert all(name == name.upper() for name in ENV_VARIABLES)


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    settings = load_settings({"SYNCD_VAR_DIR": str(tmp_path)})
    assert settings.jwt_access_secret not in repr(settings)


def test_empty_variables_mean_unset(tmp_path: Path) -> None:
    settings = load_settings(
        {"AUTH_ALLOW_REGISTER": "", "SYNCD_PORT": "", "SYNCD_VAR_DIR": str(tmp_path)}
    )
    assert settings.allow_register is None
    assert settings.port == 8080


def test_weak_seed_password_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SYNCD_SEED_ADMIN_PASSWORD": "short", "SYNCD_VAR_DIR": str(tmp_path)})
    assert caught.value.variable == "SYNCD_SEED_ADMIN_PASSWORD"
    assert "at least" in caught.value.problem
