"""`kill -9` the daemon at random moments, restart it 3 s later: stored == published.

The daemon is a real `qp ingest` process (so SIGKILL really loses its memory:
pending rows, the id tracker, queued gaps); the simulator runs in this process
on a thread of its own and keeps publishing while the daemon is dead. On each
start the daemon reads the newest stored id per symbol and backfills from there.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from quant_platform.config import Settings
from quant_platform.services.local import free_port
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, wait_accepting

SEED = 20261202


class SimThread:
    """An ExchangeSimulator on its own event loop thread, outliving daemon processes."""

    def __init__(self, **kwargs: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = ExchangeSimulator(SYMBOLS, **kwargs)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro_fn, timeout: float = 30.0) -> object:  # noqa: ANN001
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout)

    def __enter__(self) -> ExchangeSimulator:
        self.thread.start()
        self.call(self.sim.start)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self.call(self.sim.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture()
def sim_thread() -> Iterator[SimThread]:
    st = SimThread(rate=300.0, seed=SEED % 1000, port=free_port())
    with st:
        yield st


def wait_stored(database_url: str, symbols: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            n = conn.execute("SELECT count(DISTINCT symbol) FROM trades").fetchone()[0]  # type: ignore[index]
        if n >= symbols:
            return
        time.sleep(0.05)
    raise AssertionError("the first trades were not stored")


def _health(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).json()


@pytest.mark.timeout(300)
def test_kill9_at_random_moments_then_restart_stores_everything_published(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, sim_thread: SimThread
) -> None:
    sim = sim_thread.sim
    qp = str(Path(sys.executable).parent / "qp")
    metrics_port = free_port()
    env = {
        **os.environ,
        "QP_DATABASE_URL": settings.database_url,
        "QP_REDIS_URL": settings.redis_url,
        "QP_REDIS_PREFIX": settings.redis_prefix,
        "QP_DATA_DIR": str(tmp_path),
        "QP_FEED_URL": sim.url,
        "QP_REST_URL": sim.rest_url,
        "QP_METRICS_PORT": str(metrics_port),
        "QP_STREAM": "aggTrade",
        "QP_FLUSH_INTERVAL_S": "1",  # rows sit in memory between flushes: kill -9 loses them
        "QP_ANALYTICS_INTERVAL_S": "5",
        "PYTHONUNBUFFERED": "1",  # a SIGKILLed process keeps no buffered log lines
    }
    rng = random.Random(SEED)
    log = tmp_path / "ingest.log"

    def start() -> subprocess.Popen:
        with log.open("a") as fh:
            return subprocess.Popen(
                [qp, "ingest"], env=env, stdout=fh, stderr=subprocess.STDOUT, text=True
            )

    kills = []
    proc = start()
    try:
        for i in range(3):
            wait_accepting(metrics_port, proc)
            if i == 0:
                # Each stream's first trade is stored at once (the resume anchor); before
                # that, nothing tells a restart that this daemon ever ran.
                wait_stored(settings.database_url, len(SYMBOLS))
            pause = rng.uniform(0.1, 2.5)  # a random moment: mid-flush, mid-backfill, idle
            time.sleep(pause)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills.append(pause)
            time.sleep(3)  # the venue keeps publishing while the daemon is dead
            proc = start()
        wait_accepting(metrics_port, proc)
        time.sleep(1)
        sim_thread.call(sim.halt)  # the market closes: "published" is now final
        published = {s: [a.agg_id for a in sim.agg_history(s)] for s in SYMBOLS}
        total = sum(len(v) for v in published.values())
        deadline = time.monotonic() + 90
        n, h = 0, {}
        while time.monotonic() < deadline:
            with psycopg.connect(settings.database_url) as conn:
                n = conn.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
            h = _health(metrics_port)
            if n >= total and h["backfill_queue"] == 0:
                break
            time.sleep(0.5)
        print(f"kills after {kills} s; stored {n} of {total}; health {h}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = log.read_text()
    assert out.count("resuming aggTrade streams after the newest stored ids") == 3, out[-3000:]
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT symbol, kind, trade_id FROM trades ORDER BY symbol, trade_id"
        ).fetchall()
    stored: dict[str, list[int]] = {s: [] for s in SYMBOLS}
    for symbol, kind, tid in rows:
        assert kind == "aggTrade"
        stored[symbol].append(int(tid))
    for s in SYMBOLS:
        assert stored[s] == published[s], (s, kills)  # everything, each exactly once
    assert total > 1000
