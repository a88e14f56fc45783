"""The deployment files agree with the code: compose, Dockerfile, .env.example, operations.

Pure file checks, no Docker and no database: every variable handed to a syncd
container is one syncd reads and the set passes production validation; the
containers run commands the CLI accepts; health checks ask real routes on the
port the server listens on; the image runs unprivileged; .env.example names
exactly the settings, each documented, with no secret filled in; and the
configuration table of docs/operations.md lists exactly the settings.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from syncd import cli
from syncd.app import create_app
from syncd.settings import ENV_VARIABLES, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[3]
SYNCD_SERVICES = ("migrate", "syncd", "worker")
LONG_RUNNING = ("postgres", "redis", "minio", "syncd", "worker")
ONE_SHOT = ("migrate", "minio-init")
SECRET_VARIABLES = frozenset(
    str(field.validation_alias) for field in Settings.model_fields.values() if not field.repr
)
COMPOSE_SECRETS = {
    "JWT_ACCESS_SECRET": "a" * 48,
    "JWT_REFRESH_SECRET": "b" * 48,
    "S3_SECRET_ACCESS_KEY": "c" * 40,
}

# ---------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [arguments for found, arguments in dockerfile() if found == keyword]


def exec_form(keyword: str) -> list[str]:
    """The last `keyword` instruction, which must be in JSON (exec) form."""
    values = instruction_args(keyword)
    assert values, f"the Dockerfile has no {keyword}"
    parsed: list[str] = json.loads(values[-1])
    return parsed


def as_argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def container_argv(service: dict[str, Any]) -> list[str]:
    """What a container of the syncd image runs: entrypoint + command."""
    entrypoint = service.get("entrypoint", exec_form("ENTRYPOINT"))
    command = service.get("command", exec_form("CMD"))
    return as_argv(entrypoint) + as_argv(command)


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{shlex.join(argv)} has no {name}"
    return argv[argv.index(name) + 1]


def cli_accepts(args: list[str], monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether `syncd ARGS` parses: the CLI gets as far as reading its settings."""

    def stop_before_settings() -> Settings:
        raise SettingsError("CHECK", "the arguments parsed")

    monkeypatch.setattr(cli, "load_settings", stop_before_settings)
    try:
        return cli.main(args) == cli.EXIT_BAD_SETTING
    except SystemExit:  # argparse refused the command or an option
        return False


_REFERENCE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME:?error} and $$, over `given`."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        if name in given and (given[name] or not op.startswith(":")):
            return given[name]
        if op.endswith("?"):
            raise KeyError(f"{name} is required: {arg}")
        return arg

    return _REFERENCE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(name): "" if value is None else str(value) for name, value in env.items()}


def app_paths(tmp_path: Path) -> set[str]:
    settings = load_settings({"SYNCD_VAR_DIR": str(tmp_path)})
    app = create_app(settings)
    return {route.resource.canonical for route in app.router.routes() if route.resource}


_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> list[tuple[int, str, str, bool]]:
    """(line index, name, value, commented out) for every NAME= line of .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _ASSIGNMENT.match(line)
        if match:
            found.append((index, match[2], match[3], match[1] is not None))
    return found


# ---------------------------------------------------------------- compose


def test_compose_has_the_services_and_long_running_ones_report_health(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in (*LONG_RUNNING, *ONE_SHOT):
        assert name in services, f"docker-compose.yml has no service {name!r}"
    completed = {
        dependency
        for service in services.values()
        for dependency, rule in (service.get("depends_on") or {}).items()
        if rule.get("condition") == "service_completed_successfully"
    }
    assert completed == set(ONE_SHOT)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart", "no") == "no", f"{name} runs once; never restart it"
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), f"{name} runs for good; it needs a health check"
        assert as_argv(check.get("test", []))[:1] in (["CMD"], ["CMD-SHELL"]), name


@pytest.mark.parametrize("name", SYNCD_SERVICES)
def test_syncd_containers_get_only_variables_syncd_reads(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    env = environment(services[name])
    unknown = sorted(set(env) - set(ENV_VARIABLES))
    assert env, f"{name} sets no environment"
    assert not unknown, f"{name} sets variables syncd never reads: {unknown}"


def test_migrate_sees_the_settings_the_servers_see(services: dict[str, dict[str, Any]]) -> None:
    envs = [environment(services[name]) for name in SYNCD_SERVICES]
    assert envs[0] == envs[1] == envs[2], "migrate would upgrade another database than syncd uses"


def test_compose_environment_is_a_valid_production_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    env = {k: interpolate(v, COMPOSE_SECRETS) for k, v in environment(services["syncd"]).items()}
    settings = load_settings(env)
    assert settings.is_production
    assert settings.uses_postgres
    assert settings.redis_url is not None
    assert settings.s3_endpoint_url is not None
    assert settings.s3_bucket


@pytest.mark.parametrize("variable", sorted(COMPOSE_SECRETS))
def test_compose_requires_secrets_instead_of_defaulting_them(
    variable: str, services: dict[str, dict[str, Any]]
) -> None:
    raw = environment(services["syncd"])[variable]
    assert re.fullmatch(r"\$\{" + variable + r":\?[^}]+\}", raw), raw
    others = {k: v for k, v in COMPOSE_SECRETS.items() if k != variable}
    with pytest.raises(KeyError, match=variable):
        interpolate(raw, others)


@pytest.mark.parametrize("name", SYNCD_SERVICES)
def test_syncd_containers_run_commands_the_cli_accepts(
    name: str, services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = services[name]
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    assert context == ".", f"{name} must run the image built from this Dockerfile"
    argv = container_argv(service)
    assert argv[0] == "syncd", f"{name} runs {shlex.join(argv)}"
    if cli_accepts(argv[1:], monkeypatch):
        assert not service.get("profiles"), (
            f"`{shlex.join(argv)}` exists now: drop the {name} profile so compose starts it"
        )
    else:
        assert service.get("profiles"), f"`{shlex.join(argv)}` is not a syncd command"


def test_servers_start_after_migration_and_their_dependencies(
    services: dict[str, dict[str, Any]],
) -> None:
    expected = {
        "migrate": "service_completed_successfully",
        "minio-init": "service_completed_successfully",
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }
    for name in ("syncd", "worker"):
        depends = services[name]["depends_on"]
        assert {dep: rule["condition"] for dep, rule in depends.items()} == expected, name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_syncd_health_check_asks_readiness_on_the_port_it_serves(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    service = services["syncd"]
    argv = container_argv(service)
    assert argv[:2] == ["syncd", "serve"]
    assert ipaddress.ip_address(option(argv, "--host")).is_unspecified, "listen on all interfaces"
    port = int(option(argv, "--port"))
    check = " ".join(as_argv(service["healthcheck"]["test"]))
    urls = re.findall(r"https?://[^\s'\"]+", check)
    assert len(urls) == 1, check
    url = urlsplit(urls[0])
    assert url.path == "/health/ready"
    assert url.hostname in ("127.0.0.1", "localhost")
    assert url.port == port
    assert url.path in app_paths(tmp_path)
    published = [str(mapping).rsplit(":", 1)[-1] for mapping in service.get("ports", [])]
    assert str(port) in published, "the served port is not published"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_in_stages_and_runs_unprivileged() -> None:
    instructions = dockerfile()
    stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(stages) >= 2, "build and runtime must be separate stages"
    runtime = instructions[stages[-1] :]
    assert any(k == "COPY" and a.startswith("--from=") for k, a in runtime), "nothing from builder"
    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users, "the runtime stage never leaves root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0"), users[-1]


def test_dockerfile_serves_and_checks_the_exposed_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert exec_form("ENTRYPOINT") == ["syncd"]
    command = exec_form("CMD")
    assert cli_accepts(command, monkeypatch), command
    port = option(command, "--port")
    exposed = {p.split("/")[0] for args in instruction_args("EXPOSE") for p in args.split()}
    assert exposed == {port} == {"8080"}
    checks = instruction_args("HEALTHCHECK")
    assert len(checks) == 1
    url = urlsplit(re.findall(r"https?://[^\s'\"]+", checks[0])[0])
    assert url.path.startswith("/health/")
    assert url.path in app_paths(tmp_path)
    assert str(url.port) == port


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= ignored


# ---------------------------------------------------------------- .env.example


def test_env_example_names_every_setting_exactly_once() -> None:
    counts = Counter(name for _, name, _, _ in env_example())
    assert not [name for name, n in counts.items() if n > 1], counts
    missing = sorted(set(ENV_VARIABLES) - set(counts))
    unknown = sorted(set(counts) - set(ENV_VARIABLES))
    assert not missing, f".env.example lacks {missing}"
    assert not unknown, f".env.example names variables syncd never reads: {unknown}"


def test_env_example_documents_each_variable_with_its_default() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for index, name, _, _ in env_example():
        above = lines[index - 1]
        assert above.startswith("# "), f"{name}: no comment above it"
        assert not _ASSIGNMENT.match(above), f"{name}: the line above is another variable"
        assert "default" in above.lower(), f"{name}: the comment does not give the default"


def test_env_example_fills_in_no_secret() -> None:
    assert {"JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"} <= SECRET_VARIABLES
    for _, name, value, commented in env_example():
        if name in SECRET_VARIABLES:
            assert commented or not value, f"{name} has a value in .env.example"


def test_env_example_values_are_all_valid_settings(tmp_path: Path) -> None:
    shown = {name: value for _, name, value, _ in env_example()}
    shown["SYNCD_VAR_DIR"] = str(tmp_path)  # dev secrets are generated here
    try:
        load_settings(shown)
    except SettingsError as exc:
        pytest.fail(f".env.example shows an invalid value: {exc}")


# ---------------------------------------------------------------- docs/operations.md


def test_operations_configuration_table_names_every_setting_exactly_once() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, flags=re.MULTILINE)
    assert not [name for name, n in Counter(rows).items() if n > 1], rows
    assert sorted(set(ENV_VARIABLES) - set(rows)) == [], "docs/operations.md lacks these"
    assert sorted(set(rows) - set(ENV_VARIABLES)) == [], "syncd never reads these"
