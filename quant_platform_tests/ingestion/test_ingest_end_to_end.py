"""Every trade from the real simulator reaches the buffer, Redis and TimescaleDB, once."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.faults import FaultConfig
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform_tests.ingestion.daemon_harness import (
    SYMBOLS,
    db_counts,
    redis_stream_total,
    run_daemon,
    venue_count,
)


def test_n_trades_reach_all_three_sinks(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    n = 6000
    sim, daemon, code = asyncio.run(run_daemon(settings, tmp_path, total=n, rate=2000))
    assert code == 0
    assert db_counts(settings.database_url) == (n, n)
    assert redis_stream_total(settings.redis_url, settings.redis_prefix) == n
    for s in SYMBOLS:
        held = daemon.buffer.latest(s)
        expected = sim.history(s)[-1000:]
        assert [t.trade_id for t in held] == [f.trade_id for f in expected]
    assert daemon.counts["rejected"] == 0 and daemon.counts["duplicates"] == 0


def test_drops_reconnect_and_backfill_lose_nothing(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """The venue cuts the connection every 400 messages; REST backfill closes every gap."""
    n = 4000
    faults = FaultConfig(drop_after_n=400)
    sim, daemon, code = asyncio.run(
        run_daemon(settings, tmp_path, total=n, rate=1500, faults=faults, stream="aggTrade")
    )
    assert code == 0
    # Each connection is cut after 400 frames; how many frames go over the socket (not
    # REST) depends on how fast the daemon reconnects, so count drops from what was sent.
    # The last cut may come after the daemon has everything and is told to stop.
    drops = sim.sent_count // 400
    assert drops >= 1 and daemon.counts["reconnects"] >= drops - 1
    assert daemon.counts["backfilled"] > 0
    published = venue_count(sim, "aggTrade")
    assert published > n / 3
    assert db_counts(settings.database_url) == (published, published)


def test_malformed_duplicate_out_of_order_frames(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    n = 3000
    faults = FaultConfig(malformed_ratio=0.05, duplicate_ratio=0.05, out_of_order_ratio=0.02)
    _, daemon, code = asyncio.run(run_daemon(settings, tmp_path, total=n, faults=faults))
    assert code == 0
    assert daemon.counts["rejected"] > 50
    assert sum(daemon.decoder.rejected.values()) == daemon.counts["rejected"]
    assert daemon.counts["duplicates"] > 50
    assert db_counts(settings.database_url) == (n, n)


def test_silent_subscription_is_detected_and_falls_back(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """Every @trade stream acknowledged then silent → named, then @aggTrade on /market."""
    silent = frozenset(f"{s.lower()}@trade" for s in SYMBOLS)

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        while daemon.kind != "aggTrade":
            await asyncio.sleep(0.1)

    # The venue keeps trading (8,000 trades over ~20 s) while @trade is silent.
    _, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=8000,
            rate=400,
            faults=FaultConfig(silent_streams=silent),
            during=during,
            stream_silence_s=1.5,
            timeout=40,
            settle=lambda d: d.flusher.pending == 0 and d.counts["accepted"] >= 500,
        )
    )
    assert code == 0
    assert set(daemon.silent_streams) == silent
    assert set(daemon.silent_streams.values()) == {"/public"}
    assert daemon.kind == "aggTrade"
    assert daemon.counts["accepted"] >= 500
    with psycopg.connect(settings.database_url) as conn:
        kinds = {r[0] for r in conn.execute("SELECT DISTINCT kind FROM trades")}
    assert kinds == {"aggTrade"}


def test_health_and_metrics_endpoints(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        while daemon.counts["accepted"] < 200:
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{daemon.metrics_port}"

        def fetch() -> None:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                seen["health"] = json.loads(r.read())
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                seen["metrics"] = r.read().decode()

        await asyncio.to_thread(fetch)
        # The dashboard's heartbeat age: the health hash is refreshed every HEARTBEAT_S
        # (it used to ride on the 30 s log summary, so the shown age swung 0..30 s).
        client = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True)
        key = RedisKeys(settings.redis_prefix).feed_health
        beats: set[str] = set()
        deadline = time.monotonic() + 20 * daemon.HEARTBEAT_S
        while len(beats) < 3:
            assert time.monotonic() < deadline, f"heartbeat not refreshed: {beats}"
            beat = await asyncio.to_thread(client.hget, key, "updated")
            if beat is not None:
                beats.add(beat)
            await asyncio.sleep(daemon.HEARTBEAT_S / 4)
        seen["beats"] = beats

    asyncio.run(run_daemon(settings, tmp_path, total=1000, rate=500, during=during))
    assert len(seen["beats"]) >= 3  # type: ignore[arg-type]
    health = seen["health"]
    assert isinstance(health, dict)
    assert health["feed"] == "simulator" and health["simulated"] is True
    assert health["ok"] is True and health["connections"] == 1
    metrics = str(seen["metrics"])
    for name in (
        "qp_feed_frames_total",
        "qp_feed_rejected_total",
        "qp_sink_latency_seconds",
        "qp_flusher_rows_total",
    ):
        assert name in metrics
    assert 'qp_feed_trades_accepted_total{symbol="BTCUSDT"}' in metrics


@pytest.mark.parametrize("limit", [3])
def test_consecutive_connect_failures_exit_non_zero(
    settings: Settings, tmp_path: Path, limit: int, caplog: pytest.LogCaptureFixture
) -> None:
    from quant_platform.config import load_settings
    from quant_platform.domain.service import EXIT_TEMPFAIL
    from quant_platform.services.local import free_port

    port = free_port()  # nothing listens here
    s = load_settings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        data_dir=tmp_path,
        feed_url=f"ws://127.0.0.1:{port}",
        rest_url=f"http://127.0.0.1:{port}",
        reconnect_base_s=0.01,
        reconnect_cap_s=0.05,
        max_consecutive_failures=limit,
    )
    daemon = IngestionDaemon(s, metrics_port=0)
    with caplog.at_level("CRITICAL"):
        code = asyncio.run(asyncio.wait_for(daemon.run(install_signals=False), 30))
    assert code == EXIT_TEMPFAIL  # non-zero, and "try again later" for the supervisor
    assert any(f"{limit} consecutive connection failures" in r.getMessage() for r in caplog.records)
