"""The Kubernetes workloads agree with the code: the server's port is the one the
Service and probes use, the probes ask real routes, the server drains before it
stops, the HPA scales it, the worker and migrate job run arguments the real CLI
parser accepts, and pods run as the Dockerfile's user on a read-only root
filesystem with a writable var dir and set resources. Pure file checks.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from syncd.app import SHUTDOWN_TIMEOUT_S
from syncd.health import CHECK_TIMEOUT_S
from tests.support.k8s import (
    app_paths,
    config_data,
    container,
    container_port,
    deployment_running,
    dockerfile_env,
    dockerfile_uid,
    only,
    parsed_args,
    pod_spec,
    selects,
    workloads,
)


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
