"""Lift a benchmark server's per-user and per-tenant limits, as far as it has them.

A fleet benchmark opens more sockets per user (ten admin dashboards) and per
tenant (a thousand technicians), and pushes harder, than the defaults allow.
The server is told through its environment, but which limits exist (and up to
what value each is allowed) depends on the server's version: new fair-use
limits appear, ranges change. So the wanted values are checked against what
`syncd config-reference` says the server reads: a variable it does not list is
left out (settings ignore unknown variables, but the run then says it was not
set), and a value above a variable's stated range is lowered to the range's top
(a value out of range would stop the server).

`rule_tops` (the parsing) and `within` are pure; `lifted_limits` runs the CLI.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Generous values for a benchmark's server: far above what any run opens or sends.
FLEET_LIMITS = {
    "WS_MAX_SOCKETS_PER_USER": 100_000,
    "YJS_MAX_SOCKETS_PER_USER": 100_000,
    "TENANT_REQUESTS_PER_SECOND": 1_000_000,
    "TENANT_BURST": 1_000_000,
    "TENANT_MAX_CONCURRENT_PUSHES": 10_000,
    "TENANT_MAX_LIVE_SOCKETS": 1_000_000,
    "PROCESS_MAX_CONCURRENT_PUSHES": 100_000,
    "PROCESS_MAX_LIVE_SOCKETS": 1_000_000,
    "ACCESS_TOKEN_TTL_SECONDS": 86_400,  # no token expires (4401) during a long run
}

_ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|(?P<rest>.*)\|\s*$")
_NUMBER = r"`?(\d[\d,_]*(?:\.\d+)?)`?"
_TOPS = (
    (re.compile(_NUMBER + r"\s*\u2013\s*" + _NUMBER), 2, 0),  # a range: low (en dash) high
    (re.compile(r"at most\s+" + _NUMBER), 1, 0),
    (re.compile(r"less than\s+" + _NUMBER), 1, 1),
)


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("_", ""))


def rule_tops(reference: str) -> dict[str, float | None]:
    """Each variable of `syncd config-reference`'s table with the highest value its
    rule allows (a range such as `1\u2013100000`, `at most n`, `less than n`), or
    None when the rule states no top."""
    tops: dict[str, float | None] = {}
    for line in reference.splitlines():
        row = _ROW.match(line.strip())
        if row is None:
            continue
        cells = row["rest"].split("|")
        rule = cells[1] if len(cells) > 1 else ""
        tops[row["name"]] = None
        for pattern, group, below in _TOPS:
            found = pattern.search(rule)
            if found:
                tops[row["name"]] = _number(found[group]) - below
                break
    return tops


def within(
    wanted: dict[str, int], tops: dict[str, float | None]
) -> tuple[dict[str, str], list[str]]:
    """The wanted values the server knows, each at most its rule's top, and the
    names it does not know (left out)."""
    chosen: dict[str, str] = {}
    unknown: list[str] = []
    for name, value in wanted.items():
        if name not in tops:
            unknown.append(name)
            continue
        top = tops[name]
        chosen[name] = str(value if top is None else int(min(value, top)))
    return chosen, unknown


def config_reference(env: dict[str, str]) -> str:
    """What `syncd config-reference` prints for this environment's server."""
    answer = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "config-reference"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return answer.stdout


def lifted_limits(
    env: dict[str, str], wanted: dict[str, int] | None = None
) -> tuple[dict[str, str], list[str]]:
    """`wanted` (default FLEET_LIMITS) as far as the server of `env` reads them;
    answers the variables to set and the names the server does not have."""
    return within(FLEET_LIMITS if wanted is None else wanted, rule_tops(config_reference(env)))
