"""The Kubernetes manifests and the GitHub workflow agree with the code.

Pure file checks, no cluster and no runner: deploy/k8s holds the expected
objects; every variable they hand to syncd is one syncd reads and together
they make a valid production configuration (the example Secret's placeholders
are refused); the containers run arguments the real CLI parser accepts; the
server's port is the one the Service and probes use; the probes ask real
routes; pods run as the Dockerfile's user on a read-only root filesystem with
a writable var dir; the HPA scales the server; the kustomization lists the
manifests. The workflow gives `.ci/run` PostgreSQL and Redis on the ports it
probes and runs it.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncd.app import SHUTDOWN_TIMEOUT_S, create_app
from syncd.cli import _parser
from syncd.health import CHECK_TIMEOUT_S
from syncd.settings import ENV_VARIABLES, Settings, SettingsError, load_settings
from tests.support.services import make_settings

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
KUSTOMIZATION = "kustomization.yaml"
EXAMPLE_SECRET = "secret.example.yaml"
EXPECTED_KINDS = Counter(
    {
        "Namespace": 1,
        "ConfigMap": 1,
        "Secret": 1,
        "Deployment": 2,
        "Service": 1,
        "HorizontalPodAutoscaler": 1,
        "Job": 1,
    }
)
SECRET_VARIABLES = frozenset(
    str(field.validation_alias) for field in Settings.model_fields.values() if not field.repr
)
REAL_SECRETS = {
    "JWT_ACCESS_SECRET": "a" * 48,
    "JWT_REFRESH_SECRET": "b" * 48,
    "DATABASE_URL": "postgresql+asyncpg://syncd:pw@postgres:5432/syncd",
    "S3_ACCESS_KEY_ID": "syncd",
    "S3_SECRET_ACCESS_KEY": "c" * 40,
}

# ---------------------------------------------------------------- helpers


def yaml_files() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in (".yaml", ".yml"))


@pytest.fixture(scope="module")
def documents() -> dict[str, list[dict[str, Any]]]:
    """Every YAML document under deploy/k8s, by file name (kustomization included)."""
    found = {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        for path in yaml_files()
    }
    assert found, "deploy/k8s has no YAML"
    return found


@pytest.fixture(scope="module")
def objects(documents: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The Kubernetes objects (everything but the kustomization)."""
    return [doc for name, docs in documents.items() if name != KUSTOMIZATION for doc in docs]


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


# ---------------------------------------------------------------- objects


def test_the_manifests_hold_the_expected_objects(objects: list[dict[str, Any]]) -> None:
    assert Counter(obj["kind"] for obj in objects) == EXPECTED_KINDS
    for obj in objects:
        assert obj.get("apiVersion"), obj["kind"]
        assert obj.get("metadata", {}).get("name"), obj["kind"]


def test_everything_lives_in_the_namespace(
    objects: list[dict[str, Any]], documents: dict[str, list[dict[str, Any]]]
) -> None:
    namespace = only(objects, "Namespace")["metadata"]["name"]
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, obj["metadata"]["name"]
    assert documents[KUSTOMIZATION][0].get("namespace") == namespace


def test_kustomization_lists_every_manifest_but_the_example_secret(
    documents: dict[str, list[dict[str, Any]]],
) -> None:
    kustomization = documents[KUSTOMIZATION][0]
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), listed
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization lists a missing {name}"
    expected = {path.name for path in yaml_files()} - {KUSTOMIZATION, EXAMPLE_SECRET}
    assert set(listed) == expected
    # Applying placeholders with -k would overwrite the real Secret.
    assert EXAMPLE_SECRET not in listed


# ---------------------------------------------------------------- settings


def test_every_variable_handed_to_syncd_is_one_it_reads(objects: list[dict[str, Any]]) -> None:
    known = set(ENV_VARIABLES)
    assert not sorted(set(config_data(objects)) - known), "ConfigMap keys syncd never reads"
    assert not sorted(set(secret_data(objects)) - known), "Secret keys syncd never reads"
    for obj in workloads(objects):
        spec = container(obj)
        names = [entry["name"] for entry in spec.get("env", [])]
        assert not sorted(set(names) - known), f"{obj['metadata']['name']} sets unknown env"


def test_workloads_take_their_environment_from_the_configmap_and_secret(
    objects: list[dict[str, Any]],
) -> None:
    config = only(objects, "ConfigMap")["metadata"]["name"]
    secret = only(objects, "Secret")["metadata"]["name"]
    for obj in workloads(objects):
        sources = container(obj).get("envFrom", [])
        assert {"configMapRef": {"name": config}} in sources, obj["metadata"]["name"]
        assert {"secretRef": {"name": secret}} in sources, obj["metadata"]["name"]


def test_secrets_stay_out_of_the_configmap(objects: list[dict[str, Any]]) -> None:
    config, secret = config_data(objects), secret_data(objects)
    assert not sorted(set(config) & set(secret)), "a key in both: which one wins is unclear"
    assert not sorted(set(config) & SECRET_VARIABLES), "secrets in the ConfigMap"
    assert {"JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET", "DATABASE_URL"} <= set(secret)
    assert {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} <= set(secret)


def test_configmap_and_filled_secret_are_a_valid_production_configuration(
    objects: list[dict[str, Any]],
) -> None:
    assert set(REAL_SECRETS) == set(secret_data(objects))
    settings = load_settings({**config_data(objects), **REAL_SECRETS})
    assert settings.is_production
    assert settings.uses_postgres
    assert settings.redis_url is not None, "the worker and the hub need Redis"
    assert settings.s3_bucket, "pods share no disk: blobs must go to S3"


def test_example_secret_is_marked_and_its_placeholders_are_refused(
    objects: list[dict[str, Any]],
) -> None:
    assert "EXAMPLE" in (K8S / EXAMPLE_SECRET).read_text().split("apiVersion:", 1)[0]
    example = secret_data(objects)
    assert all("change-me" in value for value in example.values()), example
    with pytest.raises(SettingsError, match="JWT_"):
        load_settings({**config_data(objects), **example})


# ---------------------------------------------------------------- server


def test_server_serves_on_the_port_the_service_and_probes_use(
    objects: list[dict[str, Any]],
) -> None:
    server = deployment_running(objects, "serve")
    spec = container(server)
    args = parsed_args(spec)
    assert ipaddress.ip_address(args.host).is_unspecified, "listen on all interfaces"
    ports = [p["containerPort"] for p in spec["ports"]]
    assert ports == [args.port], ports
    service = only(objects, "Service")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    [service_port] = service["spec"]["ports"]
    assert service_port["port"] == 80
    assert container_port(spec, service_port["targetPort"]) == args.port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container_port(spec, spec[probe]["httpGet"]["port"]) == args.port, probe


def test_service_selects_the_server_pods_only(objects: list[dict[str, Any]]) -> None:
    selector = only(objects, "Service")["spec"]["selector"]
    server = deployment_running(objects, "serve")
    worker = deployment_running(objects, "worker")
    assert selects(selector, server["spec"]["template"]["metadata"]["labels"])
    assert not selects(selector, worker["spec"]["template"]["metadata"]["labels"])


def test_deployments_select_their_own_pods(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            assert selects(selector, obj["spec"]["template"]["metadata"]["labels"])


def test_probes_ask_the_health_routes(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    spec = container(deployment_running(objects, "serve"))
    live = spec["livenessProbe"]["httpGet"]["path"]
    ready = spec["readinessProbe"]["httpGet"]
    assert live == "/health/live"
    assert ready["path"] == "/health/ready"
    paths = app_paths(tmp_path)
    assert {live, ready["path"]} <= paths
    # Readiness checks the database, then Redis, each for up to CHECK_TIMEOUT_S.
    assert spec["readinessProbe"]["timeoutSeconds"] > 2 * CHECK_TIMEOUT_S


def test_server_drains_before_it_stops(objects: list[dict[str, Any]]) -> None:
    server = deployment_running(objects, "serve")
    command = container(server)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep", command
    grace = pod_spec(server)["terminationGracePeriodSeconds"]
    assert grace > float(command[1]) + SHUTDOWN_TIMEOUT_S, "WebSockets need time to close"


def test_hpa_scales_the_server_on_cpu(objects: list[dict[str, Any]]) -> None:
    hpa = only(objects, "HorizontalPodAutoscaler")
    server = deployment_running(objects, "serve")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "syncd"}
    assert target["name"] == server["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    metrics = [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert "cpu" in metrics
    assert container(server)["resources"]["requests"]["cpu"], "CPU utilisation needs a request"
    assert "replicas" not in server["spec"], "the HPA owns the replica count"


# ---------------------------------------------------------------- worker and migration


def test_worker_runs_the_worker_with_a_redis_probe(objects: list[dict[str, Any]]) -> None:
    spec = container(deployment_running(objects, "worker"))
    assert "ports" not in spec, "the worker serves no HTTP"
    probe = spec["livenessProbe"]
    assert "httpGet" not in probe
    command = probe["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    assert "REDIS_URL" in command[2]
    assert ".ping()" in command[2]


def test_migrate_job_runs_migrate_once(objects: list[dict[str, Any]]) -> None:
    job = only(objects, "Job")
    assert parsed_args(container(job)).command == "migrate"
    assert isinstance(job["spec"]["backoffLimit"], int)
    assert job["spec"]["backoffLimit"] > 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


# ---------------------------------------------------------------- security


def test_pods_run_as_the_dockerfile_user(objects: list[dict[str, Any]]) -> None:
    uid = dockerfile_uid()
    assert uid != 0
    for obj in workloads(objects):
        name = obj["metadata"]["name"]
        pod = pod_spec(obj).get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, name
        assert pod.get("runAsUser") == uid, name
        own = container(obj).get("securityContext", {})
        assert own.get("runAsUser", uid) == uid, name
        assert own.get("runAsNonRoot", True) is True, name
        assert own.get("allowPrivilegeEscalation") is False, name


def test_root_filesystem_is_read_only_with_a_writable_var_dir(
    objects: list[dict[str, Any]],
) -> None:
    var_dir = config_data(objects)["SYNCD_VAR_DIR"]
    assert var_dir == dockerfile_env("SYNCD_VAR_DIR")
    for obj in workloads(objects):
        name = obj["metadata"]["name"]
        spec = container(obj)
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True, name
        mounts = {m["mountPath"]: m["name"] for m in spec.get("volumeMounts", [])}
        assert var_dir in mounts, f"{name}: {var_dir} is not writable"
        volumes = {v["name"]: v for v in pod_spec(obj).get("volumes", [])}
        assert "emptyDir" in volumes[mounts[var_dir]], name


def test_containers_set_resources(objects: list[dict[str, Any]]) -> None:
    for obj in workloads(objects):
        resources = container(obj).get("resources", {})
        assert resources.get("requests", {}).get("memory"), obj["metadata"]["name"]
        assert resources.get("limits", {}).get("memory"), obj["metadata"]["name"]


# ---------------------------------------------------------------- GitHub workflow


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return data


def test_workflow_gives_ci_run_the_services_it_probes(workflow: dict[str, Any]) -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    [job] = workflow["jobs"].values()
    assert str(job["runs-on"]).startswith("ubuntu")
    services = job["services"]
    expected = {"postgres": ("postgres:15", 5432), "redis": ("redis:7", 6379)}
    for name, (image, port) in expected.items():
        service = services[name]
        assert service["image"] == image
        assert f"{port}:{port}" in [str(p) for p in service["ports"]], name
        assert "--health-cmd" in service.get("options", ""), f"{name} has no health check"
        assert f"-p {port}" in ci_run, f".ci/run no longer probes {name} on {port}"
    assert services["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"


def test_workflow_sets_up_the_toolchains_and_runs_ci_run(workflow: dict[str, Any]) -> None:
    [job] = workflow["jobs"].values()
    steps = job["steps"]
    uses = {str(step.get("uses", "")).split("@")[0]: step for step in steps}
    assert "actions/checkout" in uses
    assert str(uses["actions/setup-python"]["with"]["python-version"]) == "3.11"
    assert str(uses["actions/setup-node"]["with"]["node-version"]) == "20"
    runs = [step for step in steps if step.get("run", "").strip() == "bash .ci/run"]
    assert len(runs) == 1, "the workflow must run .ci/run itself, the one source of truth"
    env = {**workflow.get("env", {}), **job.get("env", {}), **runs[0].get("env", {})}
    assert str(env.get("CI")).lower() == "true"
    assert steps.index(runs[0]) == len(steps) - 1, ".ci/run comes after the setup steps"
