"""Run the real daemon against the real simulator, Redis and TimescaleDB in one event loop."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
import redis

from quant_platform.config import Settings, load_settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.ingestion.wiring import attach_alerts
from quant_platform.simulator.faults import FaultConfig
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.redis_keys import RedisKeys

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")


def daemon_settings(
    base: Settings, sim: ExchangeSimulator, data_dir: Path, **extra: object
) -> Settings:
    values = {
        "database_url": base.database_url,
        "redis_url": base.redis_url,
        "redis_prefix": base.redis_prefix,
        "data_dir": data_dir,
        "feed_url": sim.url,
        "rest_url": sim.rest_url,
        "flush_interval_s": 0.3,
        "analytics_interval_s": 0.5,
        "reconnect_base_s": 0.05,
        "reconnect_cap_s": 0.5,
        "stream_silence_s": 3.0,
        "reconnect_healthy_s": 0.1,  # test time: a connection that fed 0.1 s was healthy
        # a worker process costs seconds of imports per daemon; the process path has its
        # own test (test_ingest_supervision.py)
        "analytics_worker": "thread",
    }
    values.update(extra)
    return load_settings(**values)


async def run_daemon(
    base: Settings,
    data_dir: Path,
    *,
    total: int,
    rate: float = 800.0,
    faults: FaultConfig | None = None,
    during: Callable[[ExchangeSimulator, IngestionDaemon], Awaitable[None]] | None = None,
    settle: Callable[[IngestionDaemon], bool] | None = None,
    timeout: float = 60.0,
    alerts: bool = False,
    sim_kwargs: dict[str, object] | None = None,
    **extra: object,
) -> tuple[ExchangeSimulator, IngestionDaemon, int]:
    """Stream `total` trades through the daemon, run `during`, wait until settled, stop it."""
    sim = ExchangeSimulator(
        SYMBOLS, rate=rate, total_trades=total, seed=11, faults=faults, **(sim_kwargs or {})
    )
    await sim.start()
    settings = daemon_settings(base, sim, data_dir, **extra)
    daemon = IngestionDaemon(settings, metrics_port=0)
    if alerts:
        await attach_alerts(daemon, settings)
    task = asyncio.create_task(daemon.run(install_signals=False))
    try:
        if during is not None:
            await during(sim, daemon)
        if settle is None:  # "everything the venue published", so wait until it is done
            await sim.wait_done(timeout)
        expected = venue_count(sim, settings.stream)
        done = settle or (
            lambda d: (
                d.flusher.db_up and d.flusher.pending == 0 and d.counts["accepted"] >= expected
            )
        )
        deadline = time.monotonic() + timeout
        while not done(daemon) and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.1)
        daemon.request_stop()
        code = await asyncio.wait_for(task, timeout=30)
    finally:
        if not task.done():
            task.cancel()
        await sim.stop()
    return sim, daemon, code


def venue_count(sim: ExchangeSimulator, kind: str) -> int:
    """What the venue published: fills for @trade, aggregates (fewer) for @aggTrade."""
    if kind == "aggTrade":
        return sum(len(sim.agg_history(s)) for s in SYMBOLS)
    return sum(len(sim.history(s)) for s in SYMBOLS)


def db_counts(database_url: str) -> tuple[int, int]:
    """Rows in `trades`, and distinct (symbol, trade id) among them."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (symbol, trade_id)) FROM trades"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def redis_stream_total(redis_url: str, prefix: str) -> int:
    client = redis.Redis.from_url(redis_url)
    keys = RedisKeys(prefix)
    return sum(int(client.xlen(keys.ticks(s))) for s in SYMBOLS)


def wait_accepting(metrics_port: int, proc: subprocess.Popen, timeout: float = 90.0) -> dict:
    """Poll a daemon process's /health until it has accepted trades (imports are slow
    on a loaded machine, so a fixed sleep is not enough); returns the health JSON."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{metrics_port}/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("daemon process exited before accepting trades")
        try:
            body = httpx.get(url, timeout=2.0).json()
            if body["counts"]["accepted"] > 0:
                return body
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"daemon accepted nothing within {timeout:.0f} s")
