"""The whole Dagster code location loads: a broken import or bad schedule fails here first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import Definitions

from quant_platform.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_load_and_resolve() -> None:
    assert isinstance(defs, Definitions)
    repo = defs.get_repository_def()
    resources = repo.get_top_level_resources()
    assert {"timescale", "redis", "platform"} <= set(resources)
    for job in repo.get_all_jobs():
        assert job.name
    for schedule in repo.schedule_defs:
        assert repo.get_job(schedule.job_name)


def test_dagster_cli_validates_workspace() -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            str(ROOT / "workspace.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
