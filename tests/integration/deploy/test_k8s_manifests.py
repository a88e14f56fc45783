"""The Kubernetes manifests hold the expected objects in one namespace, listed by
the kustomization; every variable they hand to syncd is one syncd reads, secrets
stay out of the ConfigMap, and together they make a valid production
configuration (the example Secret's placeholders are refused). Pure file checks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from syncd.settings import ENV_VARIABLES, Settings, SettingsError, load_settings
from tests.support.k8s import (
    EXAMPLE_SECRET,
    K8S,
    KUSTOMIZATION,
    config_data,
    container,
    only,
    secret_data,
    workloads,
    yaml_files,
)

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
