"""The package's import graph has no cycles, and each layer imports only what
docs/architecture.md says it may.

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


# The "may import" column of docs/architecture.md's layer table.
MAY_IMPORT: dict[str, set[str]] = {
    "domain": set(),
    "config": set(),
    "analytics": set(),
    "feed": {"domain"},
    "simulator": {"domain", "feed"},
    "storage": {"config", "domain", "feed"},
    "services": {"config", "domain"},
    "alerts": {"config", "domain", "storage"},
    "ingestion": {"alerts", "analytics", "config", "domain", "feed", "storage"},
    "queries": {"alerts", "analytics", "config", "domain", "services", "storage"},
    "reporting": {"alerts", "analytics", "config", "domain", "queries"},
    "orchestration": {"alerts", "analytics", "config", "domain", "queries", "reporting", "storage"},
    "definitions": {"config", "orchestration"},
}


def layer_violations(graph: grimp.ImportGraph) -> list[str]:
    """Imports from one layer folder into another that MAY_IMPORT does not allow."""
    bad = []
    for module in sorted(graph.modules):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in MAY_IMPORT:
            continue  # the package root and cli/ (which may import any layer)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            other = imported.split(".")[1] if imported.count(".") else None
            if other and other != parts[1] and other not in MAY_IMPORT[parts[1]]:
                bad.append(f"{module} -> {imported}")
    return bad


def test_layers_import_only_what_the_architecture_allows(graph: grimp.ImportGraph) -> None:
    bad = layer_violations(graph)
    assert not bad, "update the code or docs/architecture.md's table:\n" + "\n".join(bad)


def test_every_layer_folder_has_a_rule(graph: grimp.ImportGraph) -> None:
    """A new folder needs a line in the table (and here) before it can land."""
    folders = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    assert folders - set(MAY_IMPORT) == {"cli"}


def test_the_layer_check_sees_a_wrong_way_import() -> None:
    g = grimp.ImportGraph()
    g.add_import(importer="quant_platform.analytics.pairs", imported="quant_platform.storage.x")
    g.add_import(importer="quant_platform.feed.decoder", imported="quant_platform.domain.trade")
    assert layer_violations(g) == ["quant_platform.analytics.pairs -> quant_platform.storage.x"]


def test_test_files_import_no_other_test_file() -> None:
    """Shared helpers live in modules of their own (dashboard_seed, orch_seed, ...)."""
    import ast
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    bad = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            bad += [
                f"{path.relative_to(tests)}: {n}"
                for n in names
                if n.split(".")[-1].startswith("test_")
            ]
    assert not bad, "import a helper module instead:\n" + "\n".join(bad)
