"""Real `qp worker` processes for the Celery tests, and readers of their step events."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterEventType, DagsterInstance

from quant_platform.config import Settings
from quant_platform_tests.orchestration.celery_jobs import PREFIX, VISIBILITY_S

ROOT = Path(__file__).resolve().parents[2]


def start_workers(settings: Settings, log_dir: Path, n: int = 2) -> list[subprocess.Popen]:
    """`n` solo-pool workers on the test's Redis prefix (a step runs in the worker's pid)."""
    env = {
        **os.environ,
        "QP_REDIS_URL": settings.redis_url,
        "QP_REDIS_PREFIX": PREFIX,
        "QP_DATABASE_URL": settings.database_url,
        "QP_DATA_DIR": str(settings.data_dir),  # reports a step writes land in the test's tmp
        "QP_CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
    }
    qp = str(Path(sys.executable).parent / "qp")
    return [
        subprocess.Popen(
            [qp, "worker", "--name", f"w{i}@%h"],
            env=env,
            cwd=ROOT,
            stdout=(log_dir / f"w{i}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(n)
    ]


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def db_bars(conn: psycopg.Connection, start: datetime, end: datetime) -> list[tuple]:
    """Every stored bar in [start, end), all columns, in key order."""
    return conn.execute(
        "SELECT * FROM ohlcv WHERE bucket >= %s AND bucket < %s ORDER BY symbol, interval, bucket",
        (start, end),
    ).fetchall()


def assert_same_to_rounding(a: list[tuple], b: list[tuple]) -> None:
    """Same keys, same counts, same prices and sums to 1e-12 relative.

    Exact float equality is not a property SQL `sum()` has: a CI run saw a bar's
    volume, and a run beside CPU burners a bar's VWAP, differ in the last bit
    between a Celery run and an in-process one, because concurrent steps interleave
    the 1m rows on the heap and the roll-up then adds them in another order.
    """
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:3] == y[:3]  # bucket, symbol, interval
        assert x[3:] == pytest.approx(y[3:], rel=1e-12)


def step_events(
    instance: DagsterInstance, run_id: str, kind: DagsterEventType
) -> list[tuple[float, str, int]]:
    """(timestamp, step key, pid) of each `kind` event of the run, in log order."""
    out = []
    for e in instance.all_logs(run_id, of_type=kind):
        ev = e.dagster_event
        assert ev is not None and e.step_key is not None
        out.append((e.timestamp, e.step_key, int(ev.pid or 0)))
    return out


def worker_nodes(instance: DagsterInstance, run_id: str) -> set[str]:
    """The Celery worker names in the run's "Executing steps ... in celery worker" events."""
    names = set()
    for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        md = e.dagster_event.engine_event_data.metadata if e.dagster_event else {}
        if "Celery worker" in md:
            names.add(str(md["Celery worker"].value))
    return names


def lock_waiters(conn: psycopg.Connection) -> int:
    """Backends blocked on a lock while deleting ohlcv rows (a resample step mid-way)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'DELETE FROM ohlcv%%' AND datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0


def wait_for(what: str, check: Callable[[], bool], timeout: float = 180.0) -> None:
    """Poll `check` until true.

    Raises:
        AssertionError: still false after `timeout` s (the message names `what`).
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
