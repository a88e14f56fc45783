"""GET /metrics: request timing by route template, sync counters, gauges, and access rules."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]
TOKEN = "metrics-token-" + "m" * 24


async def scrape(
    client: Any, **headers: str
) -> tuple[str, dict[tuple[str, frozenset[Any]], float]]:
    """The exposition text and its samples as {(name, labels): value}."""
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    text = await response.text()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def open_a_conflict(client: Any, staff: Account) -> str:
    task_id = uuid.uuid4()
    await push(client, staff, "a", [upsert("task", task_id, "a", title="t", priority="normal")])
    await push(client, staff, "b", [upsert("task", task_id, "b", base=1, priority="high")])
    answer = await push(client, staff, "a", [upsert("task", task_id, "a", base=1, priority="low")])
    assert answer["results"][0]["status"] == "conflict"
    conflict_id: str = answer["results"][0]["conflict_id"]
    return conflict_id


async def test_requests_are_timed_by_route_template(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    missing = uuid.uuid4()
    answer = await client.get(f"/conflicts/{missing}", headers=admin.headers)
    assert answer.status == 404
    assert (await client.get("/no/such/path")).status == 404
    assert (await client.get("/health/live")).status == 200
    text, samples = await scrape(client)
    requests = "syncd_http_request_duration_seconds_count"  # how many, not how long
    assert (
        value(samples, requests, route="/conflicts/{conflict_id}", method="GET", status="404") == 1
    )
    assert value(samples, requests, route="/health/live", method="GET", status="200") == 1
    assert value(samples, requests, route="/auth/login", method="POST", status="200") == 1
    assert value(samples, requests, route="<unmatched>", method="GET", status="404") == 1
    assert str(missing) not in text
    assert "/no/such/path" not in text


async def test_push_pull_and_conflicts_are_counted(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    conflict_id = await open_a_conflict(client, staff)
    changes, _ = await pull_all(client, staff)
    resolved = await client.post(
        f"/conflicts/{conflict_id}/resolve",
        json={"resolution": "keep_server"},
        headers=admin.headers,
    )
    assert resolved.status == 200, await resolved.text()
    _, samples = await scrape(client)
    assert value(samples, "syncd_sync_pushes_total", endpoint="push") == 3
    assert value(samples, "syncd_sync_pushed_changes_total", status="applied") == 2
    assert value(samples, "syncd_sync_pushed_changes_total", status="conflict") == 1
    assert value(samples, "syncd_conflicts_opened_total") == 1
    assert value(samples, "syncd_conflicts_resolved_total", resolution="keep_server") == 1
    assert value(samples, "syncd_sync_pulls_total") >= 1
    assert value(samples, "syncd_sync_pulled_changes_total") == len(changes) > 0
    count = "syncd_http_request_duration_seconds_count"
    assert value(samples, count, route="/sync/push", method="POST", status="200") == 3
    template = "/conflicts/{conflict_id}/resolve"
    assert value(samples, count, route=template, method="POST", status="200") == 1
    # Another tenant's pushes land in the same process-wide counters, and only there.
    other = await signed_in(client, sessions, Role.STAFF)
    await push(client, other, "c", [upsert("task", uuid.uuid4(), "c", title="x")])
    _, later = await scrape(client)
    assert value(later, "syncd_sync_pushes_total", endpoint="push") == 4
    assert value(later, "syncd_sync_pushed_changes_total", status="applied") == 3


async def test_gauges_are_read_at_scrape_time(client: Any) -> None:
    _, samples = await scrape(client)
    assert value(samples, "syncd_live_sockets") == 0
    assert value(samples, "syncd_yjs_documents") == 0
    assert ("syncd_db_pool_size", frozenset()) in samples
    assert value(samples, "syncd_db_pool_checked_out") >= 0


async def test_each_app_has_its_own_registry(
    client: Any, settings: Any, aiohttp_client: Any
) -> None:
    await client.get("/health/live")
    second = await aiohttp_client(create_app(settings))
    _, samples = await scrape(second)
    count = "syncd_http_request_duration_seconds_count"
    assert value(samples, count, route="/health/live", method="GET", status="200") == 0


async def test_production_without_a_token_hides_metrics(
    database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, SYNCD_ENV="production")
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "not_found"


@pytest.mark.parametrize("env", ["production", "dev"])
async def test_a_metrics_token_guards_the_scrape(
    env: str, database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, SYNCD_ENV=env, METRICS_TOKEN=TOKEN
    )
    client = await aiohttp_client(create_app(settings))
    anonymous = await client.get("/metrics")
    assert anonymous.status == 401
    assert (await anonymous.json())["code"] == "token_missing"
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert wrong.status == 401
    assert wrong.content_type == "application/problem+json"
    assert (await wrong.json())["code"] == "token_invalid"
    _, samples = await scrape(client, Authorization="Bearer " + TOKEN)
    count = "syncd_http_request_duration_seconds_count"
    assert value(samples, count, route="/metrics", method="GET", status="401") == 2


def test_a_short_metrics_token_is_refused(tmp_path: Path) -> None:
    from syncd.settings import SettingsError

    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        make_settings(tmp_path, METRICS_TOKEN="short")
