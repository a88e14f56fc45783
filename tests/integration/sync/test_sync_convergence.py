"""Convergence (PROTOCOL.md guarantee 4), for all inputs Hypothesis can think of.

K devices edit the same rows offline, push their outboxes in random order with
duplicated and resent batches, then pull: every device ends equal to the
server; every acknowledged change is reflected or beaten by a higher stamp;
the pull stream has no duplicate versions. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.hlc import HybridClock, Stamp
from protocol.roles import Role
from storage.database import create_engine, session_factory
from storage.models import Task
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from syncd.settings import Settings
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import Replica, push

FIELDS = ("title", "description", "priority")
PRIORITIES = ("low", "normal", "high", "urgent")


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    devices = draw(st.integers(2, 4))
    rows = draw(st.integers(1, 3))
    edits = [
        draw(
            st.lists(
                st.tuples(st.integers(0, rows - 1), st.sampled_from(FIELDS), st.integers(0, 3)),
                min_size=1,
                max_size=6,
            )
        )
        for _ in range(devices)
    ]
    splits = [draw(st.integers(1, max(1, len(e)))) for e in edits]
    order_seed = draw(st.randoms(use_true_random=False))
    resend = draw(st.lists(st.booleans(), min_size=12, max_size=12))
    return {
        "devices": devices,
        "rows": rows,
        "edits": edits,
        "splits": splits,
        "rng": order_seed,
        "resend": resend,
    }


def field_value(name: str, value: int) -> str:
    return PRIORITIES[value] if name == "priority" else f"{name}-{value}"


async def run(app_settings: Settings, plan: dict[str, Any]) -> None:
    app = create_app(app_settings)
    async with TestClient(TestServer(app)) as client:
        engine = create_engine(app_settings.database_url)
        sessions = session_factory(engine)
        try:
            await scenario(client, sessions, plan)
        finally:
            await engine.dispose()


async def scenario(client: Any, sessions: Any, plan: dict[str, Any]) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    row_ids = [uuid.uuid4() for _ in range(plan["rows"])]
    await push(
        client,
        admin,
        "seed",
        [
            {
                "entity": "task",
                "id": str(r),
                "op": "upsert",
                "fields": {"title": "start"},
                "hlc": str(HybridClock("seed").now()),
                "base_version": 0,
            }
            for r in row_ids
        ],
    )
    devices = []
    for index in range(plan["devices"]):
        account = await signed_in(client, sessions, Role.STAFF, tenant)
        replica = Replica()
        await replica.sync(client, account)  # everyone starts from the same state
        devices.append((f"dev-{index}", account, replica, HybridClock(f"dev-{index}")))
    base = max(replica.versions)
    # Each device edits offline and cuts its outbox into batches.
    batches: list[tuple[int, str, list[dict[str, Any]]]] = []
    for index, (node, _account, _replica, clock) in enumerate(devices):
        changes = [
            {
                "entity": "task",
                "id": str(row_ids[row]),
                "op": "upsert",
                "fields": {name: field_value(name, value)},
                "hlc": str(clock.now()),
                "base_version": base,
            }
            for row, name, value in plan["edits"][index]
        ]
        size = plan["splits"][index]
        for start in range(0, len(changes), size):
            batches.append((index, f"{node}-b{start}", changes[start : start + size]))
    plan["rng"].shuffle(batches)
    acknowledged: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for n, (index, batch_id, changes) in enumerate(batches):
        node, account = devices[index][0], devices[index][1]
        answer = await push(client, account, node, changes, batch_id=batch_id)
        if plan["resend"][n % len(plan["resend"])]:
            assert await push(client, account, node, changes, batch_id=batch_id) == answer
        acknowledged.extend(zip(changes, answer["results"], strict=True))
    # Everyone pulls; every replica must equal the server's own state.
    server = Replica()
    await server.sync(client, admin)
    for _node, account, replica, _clock in devices:
        before = len(replica.versions)
        await replica.sync(client, account, limit=3)
        new = replica.versions[before:]
        assert new == sorted(set(new)), "pull delivered a version twice or out of order"
        assert replica.rows == server.rows
    # Every acknowledged change is reflected, or beaten by a higher stamp.
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        for change, result in acknowledged:
            assert result["status"] in ("applied", "superseded", "conflict"), result
            task = await uow.session.get(Task, (tenant.id, uuid.UUID(change["id"])))
            assert task is not None
            ((name, value),) = change["fields"].items()
            stamp = Stamp.parse(task.field_clocks[name]["hlc"])
            assert stamp >= Stamp.parse(change["hlc"])
            if stamp == Stamp.parse(change["hlc"]):
                assert getattr(task, name) == value


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=scenarios())
def test_devices_converge(settings: Settings, plan: dict[str, Any]) -> None:
    asyncio.run(run(settings, plan))
