"""`syncd-client simulate`: a small fleet against the real app, and its failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncd_client import cli
from tests.support.factories import PASSWORD, signed_in


async def test_simulate_runs_a_small_fleet_to_convergence(
    client: TestClient[Any, Any],
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    admin = await signed_in(client, sessions)
    args = cli.parser().parse_args(
        [
            "simulate",
            "--url",
            str(client.make_url("/")),
            "--tenant",
            admin.tenant.slug,
            "--email",
            admin.email,
            "--password",
            PASSWORD,
            "--devices",
            "2",
            "--minutes",
            "0.04",
            "--crash-rate",
            "1",
            "--seed",
            "3",
        ]
    )
    figures = await cli.simulate(args, tmp_path)
    assert (figures["devices"], figures["divergent"], figures["errors"]) == (2, 0, 0)
    assert figures["acknowledged"] == figures["changes"] > 0
    assert figures["crashes"] >= 1
    assert json.loads(cli.render(figures, as_json=True)) == figures
    assert "divergent" in cli.render(figures)


def test_an_unreachable_server_is_an_error_exit(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["simulate", "--url", f"http://127.0.0.1:{port}", "--tenant", "demo"]
    assert cli.main([*argv, "--email", "a@b.example", "--password", "x" * 12]) == 1
    assert "syncd-client:" in capsys.readouterr().err


def test_the_command_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([])
    assert "simulate" in capsys.readouterr().err
