"""Helpers for the deploy/k8s checks: the manifests' files, one object of a kind,
a workload's pod spec and container, its args as the real CLI parser reads them,
ports, the Dockerfile's user and environment, the ConfigMap's and Secret's data,
the app's routes, label selectors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from syncd.app import create_app
from syncd.cli import _parser
from tests.support.services import make_settings

ROOT = Path(__file__).resolve().parents[2]


K8S = ROOT / "deploy" / "k8s"


KUSTOMIZATION = "kustomization.yaml"


EXAMPLE_SECRET = "secret.example.yaml"


def yaml_files() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in (".yaml", ".yml"))


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [obj for obj in objects if obj["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def deployment_running(objects: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """The Deployment whose single container runs `syncd COMMAND`."""
    matches = [
        obj
        for obj in objects
        if obj["kind"] == "Deployment" and parsed_args(container(obj)).command == command
    ]
    assert len(matches) == 1, f"expected one Deployment running `syncd {command}`"
    return matches[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    assert len(containers) == 1, f"{obj['metadata']['name']}: one container expected"
    found: dict[str, Any] = containers[0]
    return found


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] in ("Deployment", "Job")]


def parsed_args(spec: dict[str, Any]) -> Any:
    """The container's args as the real `syncd` parser reads them (ENTRYPOINT is syncd)."""
    assert "command" not in spec, "`command` would replace the image's ENTRYPOINT [syncd]"
    try:
        return _parser().parse_args([str(arg) for arg in spec["args"]])
    except SystemExit:
        pytest.fail(f"`syncd {' '.join(spec['args'])}` is not accepted by the CLI")


def container_port(spec: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in spec.get("ports", [])}
    assert port in named, f"no container port named {port!r}"
    return int(named[port])


def dockerfile_lines() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip()[:1] not in ("", "#")]


def dockerfile_uid() -> int:
    users = [
        line.split(None, 1)[1] for line in dockerfile_lines() if line.upper().startswith("USER ")
    ]
    assert users, "the Dockerfile has no USER"
    uid = users[-1].split(":", 1)[0]
    assert uid.isdigit(), f"the Dockerfile's USER {uid!r} is not numeric"
    return int(uid)


def dockerfile_env(name: str) -> str:
    for line in dockerfile_lines():
        match = re.search(rf"(?:^ENV\s+|\s){name}=(\S+)", line)
        if line.upper().startswith("ENV ") and match:
            return match[1]
    pytest.fail(f"the Dockerfile sets no ENV {name}")


def config_data(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (only(objects, "ConfigMap").get("data") or {}).items()}


def secret_data(objects: list[dict[str, Any]]) -> dict[str, str]:
    secret = only(objects, "Secret")
    data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    return {str(k): str(v) for k, v in data.items()}


def app_paths(tmp_path: Path) -> set[str]:
    app = create_app(make_settings(tmp_path))
    return {route.resource.canonical for route in app.router.routes() if route.resource}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
