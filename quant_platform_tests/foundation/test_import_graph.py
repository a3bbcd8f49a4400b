"""The package's import graph has no cycles, and `domain` depends on nothing else.

Built with grimp (import-linter's graph library), which reads every import
statement, including the ones inside functions, so a cycle cannot hide behind
a lazy import.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "quant_platform"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE)


def find_cycles(graph: grimp.ImportGraph) -> list[str]:
    """Every import edge a -> b for which b also reaches a, shown as the closed chain."""
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join((module, *back)))
    return cycles


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_domain_imports_nothing_else_from_the_package(graph: grimp.ImportGraph) -> None:
    domain = f"{PACKAGE}.domain"
    outside = {
        (m, imp)
        for m in graph.find_descendants(domain) | {domain}
        for imp in graph.find_modules_directly_imported_by(m)
        if not (imp == domain or imp.startswith(domain + "."))
    }
    assert not outside, f"domain must import only itself: {sorted(outside)}"


def test_the_check_sees_a_cycle() -> None:
    """The check itself can fail: the old engine <-> store cycle, rebuilt by hand, is reported."""
    g = grimp.ImportGraph()
    g.add_import(importer="pkg.engine", imported="pkg.rules")
    g.add_import(importer="pkg.store", imported="pkg.engine")
    g.add_import(importer="pkg.engine", imported="pkg.store")  # a lazy import inside a function
    assert find_cycles(g) == [
        "pkg.engine -> pkg.store -> pkg.engine",
        "pkg.store -> pkg.engine -> pkg.store",
    ]
