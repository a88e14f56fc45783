"""`syncd-client`: the client SDK on the command line.

    syncd-client simulate --url URL --tenant SLUG --email ADMIN --password PW
                          [--devices N] [--minutes M] [--seed S] [--data-dir DIR]
                          [--crash-rate P] [--json]

`simulate` signs in as an admin, creates a staff member and N technicians (by
invitation, so a development or test server), lets them work for M minutes
with offline periods (see syncd_client.simulate), brings every device back
online, checks each replica against the server, and prints the figures.
Exit status 0 when every replica matches and no device failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from syncd_client.errors import SyncClientError
from syncd_client.simulate import Fleet, Plan


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="syncd-client", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="simulate technicians on flaky connections")
    sim.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    sim.add_argument("--tenant", required=True, help="the tenant's slug, e.g. demo")
    sim.add_argument("--email", required=True, help="an admin of the tenant")
    sim.add_argument("--password", required=True, help="the admin's password")
    sim.add_argument("--devices", type=int, default=5, help="technicians (default 5)")
    sim.add_argument("--minutes", type=float, default=1.0, help="length of the day (default 1)")
    sim.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    sim.add_argument("--crash-rate", type=float, default=0.1, help="kills per online period")
    sim.add_argument("--data-dir", type=Path, help="keep the devices' files here")
    sim.add_argument("--json", action="store_true", help="print the figures as JSON")
    return root


def progress(line: str) -> None:
    """What the simulation is doing, on stderr (stdout keeps the figures)."""
    print(f"syncd-client: {line}", file=sys.stderr, flush=True)


async def simulate(
    args: argparse.Namespace, data_dir: Path, say: Callable[[str], None] = progress
) -> dict[str, Any]:
    plan = Plan(
        devices=args.devices,
        seconds=args.minutes * 60,
        seed=args.seed,
        crash_rate=args.crash_rate,
    )
    started = time.monotonic()
    fleet = Fleet(args.url, args.tenant, plan, data_dir)
    say(f"signing in as {args.email}, inviting a staff member and {args.devices} technicians")
    await fleet.provision(args.email, args.password)
    try:
        say(f"opening {args.devices} devices and creating their tasks")
        await fleet.open()
        say(f"working for {plan.seconds:g} s (offline periods, crashes, live and polling)")
        ticker = asyncio.create_task(_tick(fleet, plan.seconds, say))
        try:
            await fleet.run()
        finally:
            ticker.cancel()
        say("bringing every device online until the fleet converges")
        await fleet.converge()
        say("checking every replica against a fresh pull of its scope")
        divergent = await fleet.divergent()
    finally:
        await fleet.close()
    say(f"done in {time.monotonic() - started:.1f} s")
    return {**fleet.figures(), "divergent": len(divergent)}


async def _tick(fleet: Fleet, seconds: float, say: Callable[[str], None]) -> None:
    """Every tenth of the run (at least 5 s apart): the changes made and answered."""
    every = max(5.0, seconds / 10)
    elapsed = 0.0
    while True:
        await asyncio.sleep(every)
        elapsed += every
        figures = fleet.figures()
        say(
            f"{elapsed:.0f} of {seconds:g} s: {figures['changes']} changes made, "
            f"{figures['acknowledged']} answered, {figures['conflict']} conflicts, "
            f"{figures['crashes']} crashes"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="syncd-client-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            figures = asyncio.run(simulate(args, data_dir))
        except SyncClientError as exc:
            print(f"syncd-client: {exc}", file=sys.stderr)
            return 1
    print(render(figures, as_json=args.json))
    return 0 if figures["divergent"] == 0 and figures["errors"] == 0 else 1


def render(figures: dict[str, Any], *, as_json: bool = False) -> str:
    """The figures as aligned lines (or JSON)."""
    if as_json:
        return json.dumps(figures, indent=2)
    width = max(len(name) for name in figures)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in figures.items())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
