"""Docstrings that scan: every public function of the package that raises says so."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "quant_platform"


def undocumented_raises(source: str) -> list[str]:
    """Module-level public functions with a `raise` but no `Raises:` section."""
    out = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name.startswith("_"):
            continue
        raises = any(isinstance(n, ast.Raise) and n.exc is not None for n in ast.walk(node))
        if raises and "Raises:" not in (ast.get_docstring(node) or ""):
            out.append(node.name)
    return out


def test_public_functions_that_raise_have_a_raises_section() -> None:
    missing = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in undocumented_raises(path.read_text(encoding="utf-8"))
    ]
    assert not missing, "add a `Raises:` section (what, and when):\n" + "\n".join(missing)


def test_the_check_sees_a_missing_section() -> None:
    src = (
        "def ok(x):\n    '''Doc.\n\n    Raises:\n        ValueError: x < 0.\n    '''\n"
        "    raise ValueError\n"
        "def bad(x):\n    '''Doc.'''\n    raise ValueError\n"
        "def _private(x):\n    raise ValueError\n"
    )
    assert undocumented_raises(src) == ["bad"]
