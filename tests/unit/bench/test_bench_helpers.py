"""The benchmarks' pure helpers: limits lifted within the server's rules, the floor's
statements, the seeding's rewriting of ids and versions, delivery accounting."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from fanout_receiver import Fleet
from push_floor import Table, Write
from receivers import latencies, percentile, summary
from server_limits import FLEET_LIMITS, rule_tops, within
from tenant_seed import Text

from syncd.config_reference import config_reference_markdown

REFERENCE = """| variable | default | rule | meaning |
|---|---|---|---|
| `WS_MAX_SOCKETS_PER_USER` | `8` | 1\u2013100000 | sockets |
| `TENANT_RATE_BURST` | `50` | at most 5000 | burst |
| `TENANT_MAX_SOCKETS` | `500` | less than 20000 | sockets |
| `MAX_BODY_BYTES` | `1048576` (1 MiB) | at least 1024 | body |
| `SYNCD_HOST` | `127.0.0.1` | \u2014 | host |
"""


def test_limits_are_lowered_to_the_top_of_their_rule_and_unknown_ones_left_out() -> None:
    tops = rule_tops(REFERENCE)
    assert tops == {
        "WS_MAX_SOCKETS_PER_USER": 100_000,
        "TENANT_RATE_BURST": 5000,
        "TENANT_MAX_SOCKETS": 19_999,
        "MAX_BODY_BYTES": None,
        "SYNCD_HOST": None,
    }
    wanted = {
        "WS_MAX_SOCKETS_PER_USER": 200_000,
        "TENANT_RATE_BURST": 100,
        "TENANT_MAX_SOCKETS": 1_000_000,
        "MAX_BODY_BYTES": 10**9,
        "TENANT_RATE_PER_SECOND": 10,
    }
    assert within(wanted, tops) == (
        {
            "WS_MAX_SOCKETS_PER_USER": "100000",
            "TENANT_RATE_BURST": "100",
            "TENANT_MAX_SOCKETS": "19999",
            "MAX_BODY_BYTES": "1000000000",
        },
        ["TENANT_RATE_PER_SECOND"],
    )


def test_the_servers_own_reference_is_read() -> None:
    tops = rule_tops(config_reference_markdown())
    chosen, _ = within(FLEET_LIMITS, tops)
    assert tops["WS_MAX_SOCKETS_PER_USER"] is not None
    assert chosen["WS_MAX_SOCKETS_PER_USER"] == str(int(tops["WS_MAX_SOCKETS_PER_USER"]))
    assert chosen["ACCESS_TOKEN_TTL_SECONDS"] == "86400"


TASKS = Table(
    "tasks",
    ("tenant_id", "id", "title", "version"),
    ("uuid", "uuid", "text", "bigint"),
    ("tenant_id", "id"),
)


def test_the_floor_sends_a_shared_column_once_and_the_others_as_arrays() -> None:
    tenant, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sql, params = Write(TASKS, [(tenant, a, "x", 1), (tenant, b, "x", 2)]).statement()
    assert sql == (
        "INSERT INTO floor_tasks (tenant_id, id, title, version) SELECT $1::uuid, u.c1, $3::text,"
        " u.c3 FROM unnest($2::uuid[], $4::bigint[]) AS u(c1, c3)"
    )
    assert params == [tenant, [a, b], "x", [1, 2]]


def test_the_floor_updates_changed_rows_by_their_key() -> None:
    tenant, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sql, _ = Write(TASKS, [(tenant, a, "x", 3), (tenant, b, "y", 4)], update=True).statement()
    assert sql == (
        "UPDATE floor_tasks AS t SET title = u.c2, version = u.c3"
        " FROM unnest($2::uuid[], $3::text[], $4::bigint[]) AS u(c1, c2, c3)"
        " WHERE t.tenant_id = $1::uuid AND t.id = u.c1"
    )
    one, params = Write(TASKS, [(tenant, a, "x", 3)]).statement()
    assert one.endswith("SELECT $1::uuid, $2::uuid, $3::text, $4::bigint")
    assert params == [tenant, a, "x", 3]


TASK, EVENT, TECH = (str(uuid.uuid4()) for _ in range(3))


def test_a_seeded_copy_rewrites_the_templates_ids_and_versions_only() -> None:
    other = str(uuid.uuid4())
    stored = json.dumps(
        {
            "id": EVENT,
            "task_id": TASK,
            "actor_id": other,
            "version": 6,
            "payload": {"user_id": TECH, "count": 6},
            "clocks": {"title": {"v": 5, "by": "office"}},
        },
        separators=(",", ":"),
    )
    text = Text(stored, {TASK, EVENT, TECH}, {5, 6})
    new = {TASK: "T", EVENT: "E", TECH: "U"}
    copied = json.loads(text.render(new, {5: 105, 6: 106}))
    assert copied == {
        "id": "E",
        "task_id": "T",
        "actor_id": other,  # not the template's: the admin stays the author
        "version": 106,
        "payload": {"user_id": "U", "count": 6},  # a 6 that is not a version stays
        "clocks": {"title": {"v": 105, "by": "office"}},
    }
    assert Text("Replace pump seal #0", {TASK}, {5}).constant


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6, unique=True))
def test_every_version_a_row_holds_is_moved(versions: list[int]) -> None:
    row = {"version": versions[0], "field_clocks": {f"f{v}": {"v": v} for v in versions}}
    for separators in ((",", ":"), (", ", ": ")):
        text = Text(json.dumps(row, separators=separators), set(), set(versions))
        moved = json.loads(text.render({}, {v: v + 1000 for v in versions}))
        assert moved == {
            "version": versions[0] + 1000,
            "field_clocks": {f"f{v}": {"v": v + 1000} for v in versions},
        }


def test_latencies_are_from_each_commits_send_and_ignore_other_versions() -> None:
    sent = {10: 1.000, 11: 2.000}
    ordered = latencies(sent, {10: [1.005, 1.020], 11: [2.010], 12: [9.0]})
    assert ordered == pytest.approx([5.0, 10.0, 20.0])
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert summary([])["p99_ms"] != summary([])["p99_ms"]  # NaN: nothing was delivered


def socket(kind: str, scope: list[str] | None) -> dict[str, object]:
    return {"token": "t", "client_id": kind, "cursor": None, "kind": kind, "scope": scope}


def test_each_socket_waits_for_the_commits_of_its_scope_and_misses_are_counted() -> None:
    fleet = Fleet(
        {"url": "ws://x", "sockets": [socket("technician", ["a"]), socket("admin", None)]}
    )
    phone, dashboard = fleet.sockets
    phone.received = {1: 0.5}  # arrived before the drain began
    dashboard.received = {1: 0.6, 2: 0.7}
    commits = [(1, "a"), (2, "b"), (3, "a")]

    fleet.expect(commits)

    assert (phone.pending, dashboard.pending, fleet.short) == ({3}, {3}, 2)
    assert not fleet.all_drained.is_set()
    report = fleet.report(commits)
    assert report["expected"] == {"technician": 2, "admin": 3}
    assert report["missing"] == {"technician": 1, "admin": 1}
    assert report["arrivals"] == {"technician": {1: [0.5]}, "admin": {1: [0.6], 2: [0.7]}}
