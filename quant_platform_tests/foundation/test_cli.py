"""`qp services status` and `qp db migrate` against the real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QP = str(Path(sys.executable).parent / "qp")


def _qp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QP, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_status_reports_all_parts_up(database_url: str, redis_url: str) -> None:
    proc = _qp("services", "status", QP_DATABASE_URL=database_url, QP_REDIS_URL=redis_url)
    assert proc.returncode == 0, proc.stderr
    for part in ("postgresql", "timescaledb", "redis"):
        assert part in proc.stdout
    assert "license=" in proc.stdout


def test_status_exits_non_zero_naming_the_down_part(database_url: str) -> None:
    proc = _qp("services", "status", QP_DATABASE_URL=database_url,
               QP_REDIS_URL="redis://127.0.0.1:1/0")  # fmt: skip
    assert proc.returncode == 1
    assert "down: redis" in proc.stderr


def test_db_migrate_twice_applies_nothing_new(database_url: str) -> None:
    first = _qp("db", "migrate", QP_DATABASE_URL=database_url)
    second = _qp("db", "migrate", QP_DATABASE_URL=database_url)
    assert first.returncode == second.returncode == 0
    assert "applied 0 migration(s)" in second.stdout
