"""No import cycle among the modules of syncd, storage, protocol and jobs.

The graph is grimp's (import-linter's library), built from the source.

- At run time: imports under `if TYPE_CHECKING:` are left out (grimp's
  `exclude_type_checking_imports`; they never run, so they cannot make an
  import order fail). No cycle at all, but for the ones listed in
  `KNOWN_RUNTIME`, each with the area that owns it; a fixed one may leave
  the list, a new one fails.
- Typing included: no cycle passes through `syncd.appkeys` (it names the
  services it types, so none of them may import it back: such a service
  declares its key beside itself) nor through the WebSocket kit
  (`syncd.sockets`).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("syncd", "storage", "protocol", "jobs")

# Cycles that exist today outside this rule's first change, to be broken by their owners.
KNOWN_RUNTIME = {
    frozenset({"storage.blob_urls", "storage.blobs"}),  # storage: blob URLs <-> blob stores
}


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
def runtime_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)


@pytest.fixture(scope="module")
def typing_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_no_import_cycle_at_run_time(runtime_graph: grimp.ImportGraph) -> None:
    new = cycles(runtime_graph) - KNOWN_RUNTIME
    assert not new, "import cycles: " + "; ".join(described(runtime_graph, c) for c in new)


@pytest.mark.parametrize("through", ["syncd.appkeys", "syncd.sockets"])
def test_no_cycle_through_the_app_keys_or_the_socket_kit(
    typing_graph: grimp.ImportGraph, through: str
) -> None:
    bad = [
        c
        for c in cycles(typing_graph)
        if any(m == through or m.startswith(through + ".") for m in c)
    ]
    assert not bad, "import cycles: " + "; ".join(described(typing_graph, c) for c in bad)


def test_the_rule_sees_a_cycle() -> None:
    """The check itself: a loop of three modules is one cycle; a chain is none."""
    graph = grimp.ImportGraph()
    for importer, imported in (("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")):
        graph.add_import(importer=importer, imported=imported)
    assert cycles(graph) == {frozenset({"a", "b", "c"})}
    assert described(graph, frozenset({"a", "b", "c"})) == "a -> b -> c -> a"
