"""requirements.lock covers pyproject.toml: every dependency is pinned, in a version it allows."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pinned(lock_text: str) -> dict[str, set[str]]:
    """name -> the versions the lock pins (one per marker branch)."""
    out: dict[str, set[str]] = {}
    for line in lock_text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "==" not in line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        out.setdefault(canonicalize_name(req.name), set()).add(spec.version)
    return out


def unlocked(pyproject: dict, lock: dict[str, set[str]]) -> list[str]:
    """Dependencies (runtime and dev) the lock does not pin in an allowed version."""
    project = pyproject["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    problems = []
    for text in wanted:
        req = Requirement(text)
        versions = lock.get(canonicalize_name(req.name), set())
        if not any(req.specifier.contains(v, prereleases=True) for v in versions):
            problems.append(f"{text} (locked: {sorted(versions) or 'missing'})")
    return problems


def test_lock_pins_every_dependency_of_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = pinned((ROOT / "requirements.lock").read_text())
    assert not unlocked(pyproject, lock), (
        "requirements.lock is stale: run `make lock` and commit it\n"
        + "\n".join(unlocked(pyproject, lock))
    )


def test_a_new_or_tightened_dependency_is_reported() -> None:
    pyproject = {
        "project": {
            "dependencies": ["pandas>=2.1,<4", "left-pad>=1"],
            "optional-dependencies": {"dev": ["pytest>=99"]},
        }
    }
    lock = pinned("pandas==3.1.1\n    # via quant-platform\npytest==8.4.0\n")
    assert unlocked(pyproject, lock) == [
        "left-pad>=1 (locked: missing)",
        "pytest>=99 (locked: ['8.4.0'])",
    ]
