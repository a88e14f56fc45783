"""The GitHub workflow gives `.ci/run` PostgreSQL and Redis on the ports it probes,
sets up the toolchains and runs it. A pure file check, no runner.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.k8s import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


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
