"""No import cycle among the modules of syncd, storage, protocol, jobs and the
Python client (syncd_client), imports under `if TYPE_CHECKING:` included.

The graph is grimp's (import-linter's library), built from the source. A
module that needs something of its owner names it by a `Protocol` (the unit
of change's `Core`, a Yjs room's `Host`, client notes' `Host`), and
`syncd.appkeys` names the services it types without any of them importing it
back (such a service declares its key beside itself).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("syncd", "storage", "protocol", "jobs", "syncd_client")


def cycles(graph: grimp.ImportGraph) -> set[frozenset[str]]:
    """The graph's strongly connected components of more than one module."""
    found: set[frozenset[str]] = set()
    seen: set[str] = set()
    for module in sorted(graph.modules):
        if module in seen:
            continue
        down = graph.find_downstream_modules(module)
        if module not in down and not (down & graph.find_upstream_modules(module)):
            continue
        component = frozenset({module} | (down & graph.find_upstream_modules(module)))
        seen |= component
        if len(component) > 1:
            found.add(component)
    return found


def described(graph: grimp.ImportGraph, component: frozenset[str]) -> str:
    first = min(component)
    back = next(
        m for m in sorted(component) if graph.direct_import_exists(importer=m, imported=first)
    )
    chain = graph.find_shortest_chain(importer=first, imported=back) or ()
    return " -> ".join((*chain, first))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(described(graph, c) for c in found)


def test_the_rule_sees_a_cycle() -> None:
    """The check itself: a loop of three modules is one cycle; a chain is none."""
    graph = grimp.ImportGraph()
    for importer, imported in (("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")):
        graph.add_import(importer=importer, imported=imported)
    assert cycles(graph) == {frozenset({"a", "b", "c"})}
    assert described(graph, frozenset({"a", "b", "c"})) == "a -> b -> c -> a"
