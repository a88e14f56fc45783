"""The deploy/k8s YAML documents and Kubernetes objects, read once per test module."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.k8s import KUSTOMIZATION, yaml_files


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
