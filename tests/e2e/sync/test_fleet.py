"""A fleet of technicians on a flaky network against a real syncd (issues 9 and 16).

N simulated devices (syncd_client.simulate) sync through a fault-injecting
proxy (tests/support/faultproxy.py) with real `syncd serve` processes behind it (two
on PostgreSQL and Redis, the proxy spreading connections over both; one on
SQLite): random offline periods, random edits to shared and own tasks,
purchases made and corrected in one batch, lifecycle actions up to complete,
an office that takes technicians off shared tasks and puts them back,
deletes purchases and reopens completed tasks, devices killed and restarted
from their files, connections cut mid-request and mid-response, sockets cut,
and a server process killed with SIGKILL and restarted in the middle. At the
end:

- every replica equals a fresh pull of its user's scope (0 divergent);
- every field holds its last writer's value and every acknowledged row and
  action event is there (0 lost);
- no row, note or action event is there twice (0 duplicated);
- the conflicts the server opened are the concurrent edits the clients made,
  counted by the protocol's rule from the clients' own records
  (tests/support/fleet_oracle.py), and each was answered `conflict`;
- no outbox is left with changes (0 stuck);
- then the office resolves every open conflict through the inbox, and after
  the devices converge again every replica still equals a fresh pull.

One line sums it up (`fleet postgresql x2: ... divergent=0 lost=0
duplicated=0 stuck=0 ...`). The quick versions run in the suite. The long
one, by hand:

    python -m tests.e2e.sync.test_fleet --seed 7 --devices 50 --minutes 5 [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from syncd_client.device import EDITS
from tests.support.fleet import assert_sound, fleet_env, one_line, prepared_env, report, run_fleet

pytestmark = pytest.mark.e2e


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """A migrated and seeded SQLite database for the fleet (the embedded default)."""
    return prepared_env(f"sqlite+aiosqlite:///{tmp_path / 'fleet.db'}", tmp_path)


async def test_fleet_of_16_on_two_postgresql_processes_with_a_server_kill(
    server_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    figures = await run_fleet(
        fleet_env(server_env, redis_url), tmp_path, devices=16, seconds=30, seed=7, processes=2
    )
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print("\n" + report(figures) + "\n" + one_line("postgresql", figures))
    assert_sound(figures)
    assert figures["faults_injected"] > 0
    assert figures["crashes"] > 0
    assert figures["conflicts_expected"] > 0
    assert figures["resolved"] > 0
    assert figures["purchases"] > 0
    assert figures["office"].get("reassign", 0) > 0


async def test_fleet_of_8_on_sqlite_with_a_server_kill(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**sqlite_env, "ACCESS_TOKEN_TTL_SECONDS": "60", "WS_HEARTBEAT_SECONDS": "5"}
    figures = await run_fleet(env, tmp_path, devices=8, seconds=25, seed=11)
    print("\n" + report(figures) + "\n" + one_line("sqlite", figures))
    assert_sound(figures)
    assert figures["faults_injected"] > 0


def main(argv: list[str] | None = None) -> int:
    """The long version: a fresh PostgreSQL database, the Redis of the tests."""
    from tests.support.services import (
        PG_ADMIN_DSN,
        REDIS_TEST_URL,
        asyncpg_url,
        create_pg_database,
        drop_pg_database,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--edits",
        default=",".join(kind for kind, _ in EDITS),
        help="the kinds of edit technicians make (default: all of them)",
    )
    parser.add_argument("--sqlite", action="store_true", help="one process on SQLite")
    parser.add_argument("--processes", type=int, default=2, help="PostgreSQL: server processes")
    args = parser.parse_args(argv)
    name = f"syncd_fleet_{uuid.uuid4().hex[:10]}"
    if not args.sqlite:
        asyncio.run(create_pg_database(name))
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="syncd-fleet-") as scratch:
            workdir = Path(scratch)
            url = (
                f"sqlite+aiosqlite:///{workdir / 'fleet.db'}"
                if args.sqlite
                else asyncpg_url(PG_ADMIN_DSN, name)
            )
            env = fleet_env(prepared_env(url, workdir), REDIS_TEST_URL)
            if args.sqlite:
                env.pop("REDIS_URL")
            figures = asyncio.run(
                run_fleet(
                    env,
                    workdir,
                    devices=args.devices,
                    seconds=args.minutes * 60,
                    seed=args.seed,
                    processes=1 if args.sqlite else args.processes,
                    edits=tuple((k, w) for k, w in EDITS if k in args.edits.split(",")),
                )
            )
    finally:
        if not args.sqlite:
            asyncio.run(drop_pg_database(name))
    figures["wall_s"] = round(time.monotonic() - started, 1)
    print(report(figures))
    print(one_line("sqlite" if args.sqlite else "postgresql", figures))
    try:
        assert_sound(figures)
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
