"""Batch pair statistics on seeded bars match the analytics library; closed-bar sensor."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from dagster import DagsterInstance, build_sensor_context, materialize

from quant_platform import analytics
from quant_platform.orchestration.ohlcv import ohlcv
from quant_platform.orchestration.pair_statistics import pair_statistics
from quant_platform.orchestration.pair_statistics.sensors import (
    pair_statistics_on_closed_bars_sensor,
)
from quant_platform.orchestration.resources import PlatformSettingsResource

N = 400


def seed_bars(db: psycopg.Connection) -> dict[str, np.ndarray]:
    """1m closes ending at the last closed minute: ETH ~ BTC cointegrated, SOL independent."""
    rng = np.random.default_rng(5)
    lx = np.log(40_000) + np.cumsum(rng.normal(0, 1e-3, N))
    u = np.zeros(N)
    for i in range(1, N):
        u[i] = 0.7 * u[i - 1] + rng.normal(0, 5e-4)
    closes = {
        "BTCUSDT": np.exp(lx),
        "ETHUSDT": np.exp(-3.0 + 1.3 * lx + u),
        "SOLUSDT": np.exp(np.log(150) + np.cumsum(rng.normal(0, 1e-3, N))),
    }
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for sym, c in closes.items():
        for i, price in enumerate(c):
            t = end - timedelta(minutes=N - i)
            rows.append((t, sym, "1m", price, price, price, price, 1.0, price, price, 1, 0.5))
    db.cursor().executemany(
        "INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume, "
        "quote_volume, vwap, trade_count, buy_volume) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )
    return closes


def test_pair_statistics_match_analytics(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    closes = seed_bars(db)
    platform = PlatformSettingsResource(
        symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], pairs=["ETHUSDT/BTCUSDT", "SOLUSDT/BTCUSDT"]
    )
    result = materialize(
        [pair_statistics], resources={**resources, "platform": platform}, instance=instance
    )
    assert result.success
    rows = db.execute(
        "SELECT symbol_y, symbol_x, source, method, bar_interval, window_size, hedge_ratio, "
        "intercept, zscore, correlation, adf_stat, adf_pvalue, eg_stat, eg_pvalue, half_life, "
        "n_obs, spread_mean, spread_std FROM pair_statistics ORDER BY symbol_y"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("ETHUSDT", "BTCUSDT", "batch", "1m"),
        ("SOLUSDT", "BTCUSDT", "batch", "1m"),
    ]
    for row in rows:
        y, x = row[0], row[1]
        want = analytics.pair_metrics(closes[y], closes[x], log=True)
        eg = analytics.engle_granger(np.log(closes[y]), np.log(closes[x]))
        assert math.isfinite(row[6]) and row[15] == N and row[5] == 24 * 60
        np.testing.assert_allclose(
            row[6:12] + (row[16], row[17]),
            [
                want.hedge_ratio,
                want.intercept,
                want.zscore,
                want.correlation,
                want.adf_stat,
                want.adf_pvalue,
                want.spread_mean,
                want.spread_std,
            ],
            rtol=1e-9,
        )
        np.testing.assert_allclose([row[12], row[13]], [eg.stat, eg.pvalue], rtol=1e-9)
    coint, indep = rows
    assert abs(coint[6] - 1.3) < 0.05 and coint[13] < 0.01
    assert indep[13] > coint[13]
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["pairs_written"].value == 2 and "ETHUSDT" in meta["summary"].value


def test_pair_with_no_bars_is_skipped_not_failed(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    result = materialize([pair_statistics], resources=resources, instance=instance)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["pairs_written"].value == 0 and len(meta["pairs_skipped"].value) == 6
    assert meta["warning"].value.startswith("6 of 6 pairs skipped")
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "pairs_written" and not check.passed
    assert check.severity.value == "ERROR"


def test_pairs_written_check_passes_when_every_pair_is_written(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    seed_bars(db)
    platform = PlatformSettingsResource(
        symbols=["BTCUSDT", "ETHUSDT", "SOLUSDT"], stats_lookback_minutes=N + 5
    )
    result = materialize(
        [pair_statistics], resources={**resources, "platform": platform}, instance=instance
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["pairs_written"].value == 3
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert "warning" not in meta


def test_closed_bars_sensor_fires_once_per_change(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    first = pair_statistics_on_closed_bars_sensor(build_sensor_context(instance=instance))
    assert first.run_requests == [] and first.cursor == "0"
    assert materialize(
        [ohlcv], partition_key="2026-01-05-10:00", resources=resources, instance=instance
    ).success
    fired = pair_statistics_on_closed_bars_sensor(
        build_sensor_context(instance=instance, cursor=first.cursor)
    )
    (request,) = fired.run_requests
    assert int(fired.cursor) > 0 and request.run_key == f"ohlcv-closed@{fired.cursor}"
    assert request.tags["qp/partitions"] == "2026-01-05-10:00..2026-01-05-10:00"
    again = pair_statistics_on_closed_bars_sensor(
        build_sensor_context(instance=instance, cursor=fired.cursor)
    )
    assert again.run_requests == [] and again.cursor == fired.cursor
