"""A spread dislocation from the simulator becomes an alert event in the table and the stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from quant_platform.alerts.rules import AlertRule
from quant_platform.alerts.store import AlertStore
from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform_tests.ingestion.daemon_harness import run_daemon


@pytest.mark.timeout(150)
def test_dislocation_fires_zscore_alert_within_a_cycle(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    AlertStore(settings.database_url).create_rule(
        AlertRule(
            name="ethbtc-z",
            kind="zscore",
            target="ETHUSDT/BTCUSDT",
            params={"k": 4.0},
            severity="critical",
            cooldown_s=600,
        )
    )
    seen: dict[str, int] = {}

    async def during(sim: ExchangeSimulator, daemon: IngestionDaemon) -> None:
        # Live pair statistics need 30 one-second bars; then dislocate ETH (the y leg) by 3 %.
        while "ETHUSDT/BTCUSDT" not in daemon.live.snapshot:
            await asyncio.sleep(0.2)
        z_before = daemon.live.snapshot["ETHUSDT/BTCUSDT"]["zscore"]
        assert abs(z_before) < 4
        loop = daemon.alert_loop
        evaluate = loop.engine.evaluate

        def watching_evaluate(snapshot: dict, *args: object, **kwargs: object) -> list[object]:
            # What each alert cycle saw: the first snapshot past the threshold, and the
            # first cycle that fired (counted in cycles, never seconds).
            if abs(snapshot.get("ETHUSDT/BTCUSDT", {}).get("zscore", 0.0)) >= 4:
                seen.setdefault("crossed_cycle", loop.cycles)
            fired = evaluate(snapshot, *args, **kwargs)
            if fired:
                seen.setdefault("fired_cycle", loop.cycles)
            return fired

        loop.engine.evaluate = watching_evaluate
        # While the window is short (tens of bars) a step keeps |z| >= 4 for only about
        # 1/17 of the time the feed has run, a second or two: a starved analytics cycle
        # can step over it. So step again every few seconds until an alert cycle saw it.
        steps = 0
        while "crossed_cycle" not in seen:
            assert steps < 20, "20 dislocations and no alert cycle saw |z| >= 4"
            sim.inject_dislocation("ETHUSDT", 3.0 if steps % 2 == 0 else -3.0)
            steps += 1
            for _ in range(40):
                if "crossed_cycle" in seen:
                    break
                await asyncio.sleep(0.1)
        while (
            await asyncio.to_thread(lambda: db.execute("SELECT 1 FROM alert_events").fetchone())
            is None
        ):
            assert loop.cycles < seen["crossed_cycle"] + 100, "|z| >= 4 seen, nothing stored"
            await asyncio.sleep(0.05)

    s = settings.model_copy(update={"data_dir": tmp_path})
    _, daemon, code = asyncio.run(
        run_daemon(
            s,
            tmp_path,
            total=10_000_000,  # never runs dry: the run ends when `during` does
            rate=300,
            during=during,
            alerts=True,
            timeout=90,
            settle=lambda d: True,
            analytics_interval_s=1.0,
            alert_interval_s=0.5,
            stats_persist_interval_s=1.0,
            pairs=("ETHUSDT/BTCUSDT",),
        )
    )
    assert code == 0
    # The first alert cycle that saw |z| >= 4 fired: within a cycle, counted in cycles.
    assert seen["fired_cycle"] == seen["crossed_cycle"]
    row = db.execute(
        "SELECT severity, rule_name, target, metrics, source FROM alert_events"
    ).fetchone()
    assert row[0] == "critical" and row[1] == "ethbtc-z" and row[2] == "ETHUSDT/BTCUSDT"
    assert abs(row[3]["zscore"]) >= 4 and row[4] == "daemon"
    stream = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True)
    entries = stream.xrange(RedisKeys(settings.redis_prefix).alerts_stream)
    assert len(entries) == 1 and entries[0][1]["rule_name"] == "ethbtc-z"

    # the live engine's other outputs: Redis analytics cache (60 s TTL, with its compute
    # time) and a pair_statistics row (source 'live') at most a persist interval apart
    keys = RedisKeys(settings.redis_prefix)
    cached = stream.get(keys.pair_analytics("ETHUSDT", "BTCUSDT"))
    assert cached is not None and 0 < stream.ttl(keys.pair_analytics("ETHUSDT", "BTCUSDT")) <= 60
    payload = json.loads(cached)
    assert {
        "zscore",
        "hedge_ratio",
        "coint_pvalue",
        "half_life",
        "compute_ms",
        "computed_at",
    } <= set(payload)
    assert stream.get(keys.symbol_analytics("BTCUSDT")) is not None
    rows = db.execute(
        "SELECT source, window_size, zscore FROM pair_statistics"
        " WHERE symbol_y = 'ETHUSDT' AND symbol_x = 'BTCUSDT'"
    ).fetchall()
    assert rows and {r[0] for r in rows} == {"live"}
