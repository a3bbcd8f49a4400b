"""Failure modes through the whole daemon: database down, Redis down, SIGTERM mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from quant_platform.config import Settings, load_settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.services.local import LocalPostgres, LocalRedis, free_port
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import db_counts, run_daemon, venue_count


def test_database_down_mid_stream_loses_nothing(
    ephemeral_postgres: LocalPostgres, settings: Settings, tmp_path: Path
) -> None:
    base = load_settings(
        database_url=ephemeral_postgres.url,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        data_dir=tmp_path,
        spool_memory_rows=1000,
    )
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        while daemon.counts["accepted"] < 1000:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(ephemeral_postgres.stop)
        await asyncio.sleep(3)
        seen["db_up_while_down"] = daemon.flusher.db_up
        seen["spooled"] = daemon.flusher.spooled_rows
        seen["accepting"] = daemon.counts["accepted"]
        await asyncio.to_thread(ephemeral_postgres.start)

    sim, daemon, code = asyncio.run(
        run_daemon(
            base, tmp_path, total=6000, rate=1000, during=during, timeout=60, spool_memory_rows=1000
        )
    )
    assert code == 0
    assert seen["db_up_while_down"] is False
    assert int(seen["spooled"]) > 0  # type: ignore[arg-type]
    n = venue_count(sim, "trade")
    assert db_counts(ephemeral_postgres.url) == (n, n)


def test_redis_down_daemon_continues_and_db_gets_everything(
    ephemeral_redis: LocalRedis, settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    base = load_settings(
        database_url=settings.database_url,
        redis_url=ephemeral_redis.url,
        redis_prefix=settings.redis_prefix,
        data_dir=tmp_path,
    )
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        while daemon.counts["accepted"] < 500:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(ephemeral_redis.stop)
        await asyncio.sleep(1.5)
        seen["redis_up"] = daemon.redis_sink.up
        seen["health"] = daemon.health()

    sim, daemon, code = asyncio.run(
        run_daemon(base, tmp_path, total=4000, rate=1000, during=during)
    )
    assert code == 0
    assert seen["redis_up"] is False
    assert daemon.redis_sink.dropped > 0
    n = venue_count(sim, "trade")
    assert db_counts(settings.database_url) == (n, n)
    assert len(daemon.buffer.latest("BTCUSDT")) > 0


@pytest.mark.timeout(120)
def test_sigterm_mid_stream_flushes_everything(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """`qp sim` and `qp ingest` as real processes; SIGTERM the daemon while trades flow."""
    qp = str(Path(sys.executable).parent / "qp")
    sim_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "QP_DATABASE_URL": settings.database_url,
        "QP_REDIS_URL": settings.redis_url,
        "QP_REDIS_PREFIX": settings.redis_prefix,
        "QP_DATA_DIR": str(tmp_path),
        "QP_FEED_URL": f"ws://127.0.0.1:{sim_port}",
        "QP_REST_URL": f"http://127.0.0.1:{sim_port}",
        "QP_METRICS_PORT": str(metrics_port),
        "QP_FLUSH_INTERVAL_S": "30",
        "QP_FLUSH_MAX_ROWS": "100000",
    }
    sim = subprocess.Popen(
        [qp, "sim", "--port", str(sim_port), "--rate", "800"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ingest = subprocess.Popen(
        [qp, "ingest"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # Trades flow (the 30 s flush interval keeps them all pending). Wait on the daemon's
        # own /health, not a fixed sleep: on a loaded host its imports alone can take 6 s,
        # and a SIGTERM before its handler is installed kills it outright.
        deadline = time.monotonic() + 60
        while _accepted(metrics_port) < 1500:
            assert ingest.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        ingest.send_signal(signal.SIGTERM)
        out, _ = ingest.communicate(timeout=60)
    finally:
        for p in (sim, ingest):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert ingest.returncode == 0, out[-3000:]
    m = re.search(r"stopped \(exit 0\): .*'accepted': (\d+)", out)
    assert m, out[-3000:]
    accepted = int(m.group(1))
    assert accepted > 1000, out[-3000:]
    assert "stopping: flushing" in out
    assert db_counts(settings.database_url) == (accepted, accepted)


def _accepted(port: int) -> int:
    """Trades the daemon on `port` has accepted so far (0 until /health answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return int(json.loads(r.read())["counts"]["accepted"])
    except urllib.error.HTTPError as exc:  # 503 while not ok still carries the counts
        return int(json.loads(exc.read())["counts"]["accepted"])
    except (OSError, ValueError, KeyError):
        return 0
