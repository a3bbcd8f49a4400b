"""Seed a database with a week of dashboard data: 1m/5m/1h bars of 4 symbols, statistics, alerts.

Used by `bench_dashboard.py`. Prices come from the simulator's calibrated market
model, so the charts look like the real thing; everything goes in by COPY.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from quant_platform.simulator.market import MarketModel

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
LEVELS = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "BNBUSDT": 600.0, "SOLUSDT": 150.0}


def seed_week(database_url: str, days: int = 7, seed: int = 7) -> dict[str, int]:
    """Replace the data tables' rows with `days` of bars ending now; returns rows per table."""
    minutes = days * 1440
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes)
    path = MarketModel(SYMBOLS, seed=seed).path(minutes * 60)
    rng = np.random.default_rng(seed)
    counts = {"ohlcv": 0, "pair_statistics": 0, "alert_events": 0}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE trades, ohlcv, pair_statistics, alert_events")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY ohlcv (bucket, symbol, interval, open, high, low, close, volume, "
                "quote_volume, vwap, trade_count, buy_volume) FROM STDIN"
            ) as copy:
                for j, sym in enumerate(SYMBOLS):
                    px = LEVELS[sym] * np.exp(path[:, j]).reshape(minutes, 60)
                    for width, name in ((1, "1m"), (5, "5m"), (60, "1h")):
                        blocks = px.reshape(minutes // width, width * 60)
                        vol = rng.lognormal(0, 0.5, len(blocks)) * width
                        for i, b in enumerate(blocks):
                            o, h, lo, c = b[0], b.max(), b.min(), b[-1]
                            copy.write_row(
                                (
                                    start + timedelta(minutes=i * width),
                                    sym,
                                    name,
                                    o,
                                    h,
                                    lo,
                                    c,
                                    vol[i],
                                    vol[i] * c,
                                    c,
                                    int(vol[i] * 20),
                                    vol[i] / 2,
                                )
                            )
                            counts["ohlcv"] += 1
            with cur.copy(
                "COPY pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval, "
                "window_size, hedge_ratio, zscore, correlation, adf_pvalue, eg_pvalue, "
                "half_life, n_obs) FROM STDIN"
            ) as copy:
                for a in range(4):
                    for b in range(a + 1, 4):
                        for i in range(minutes):
                            t = start + timedelta(minutes=i + 1)
                            copy.write_row(
                                (t, SYMBOLS[a], SYMBOLS[b], "live", "ols", "1s", 3600)
                                + (1.0, rng.normal(), 0.8, rng.uniform(), rng.uniform(), 600.0)
                                + (3600,)
                            )
                            counts["pair_statistics"] += 1
                            if i % 5 == 0:
                                copy.write_row(
                                    (t, SYMBOLS[a], SYMBOLS[b], "batch", "ols", "1m", 1440)
                                    + (1.0, rng.normal(), 0.8, rng.uniform(), rng.uniform())
                                    + (10.0, 1440)
                                )
                                counts["pair_statistics"] += 1
            for i in range(200):
                conn.execute(
                    "INSERT INTO alert_events (time, rule_name, kind, severity, target, "
                    "message, metrics, source) VALUES (%s, 'eth-btc-z', 'zscore', 'warning', "
                    "'ETHUSDT/BTCUSDT', 'z crossed', '{\"zscore\": 2.1}', 'daemon')",
                    (end - timedelta(minutes=30 * i),),
                )
                counts["alert_events"] += 1
        conn.execute("ANALYZE")
    return counts


if __name__ == "__main__":
    import sys

    print(seed_week(sys.argv[1]))
