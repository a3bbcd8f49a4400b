"""Docs stay true: every setting is in the README table (the diagram: test_architecture_diagram)."""

from __future__ import annotations

import re
from pathlib import Path

from quant_platform.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(QP_[A-Z0-9_]+)` \|", README, flags=re.M))
    expected = {f"QP_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from README"
    assert documented - expected == set(), "README documents settings that do not exist"


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in first_block.strip().splitlines()]
    assert commands == ["make up", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_shows_the_diagram_png() -> None:
    assert "](docs/architecture.png)" in README
    png = (ROOT / "docs" / "architecture.png").read_bytes()
    assert png.startswith(b"\x89PNG")
