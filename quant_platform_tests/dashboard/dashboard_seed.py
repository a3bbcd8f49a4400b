"""One realistic data set for the dashboard tests (queries, AppTest, browser).

A cointegrated BTC/ETH pair on 1m bars, live and batch statistics, alerts, the
live cache and tick streams, a simulator heartbeat. A module of its own, so
test files import it rather than each other.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import redis as redis_lib
from psycopg.types.json import Jsonb

from quant_platform.storage.redis_keys import RedisKeys

Y, X = "BTCUSDT", "ETHUSDT"
N_BARS = 240
END = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def make_pair_bars(n: int = N_BARS, end: datetime = END, seed: int = 7) -> pd.DataFrame:
    """1m bars of a cointegrated pair: log BTC = 0.9 log ETH + c + OU noise."""
    rng = np.random.default_rng(seed)
    lx = np.log(3000.0) + np.cumsum(rng.normal(0, 0.001, n))
    ou = np.zeros(n)
    for i in range(1, n):
        ou[i] = 0.9 * ou[i - 1] + rng.normal(0, 0.0008)
    ly = 0.9 * lx + (np.log(60000.0) - 0.9 * np.log(3000.0)) + ou
    buckets = pd.date_range(end=end, periods=n, freq="1min", tz="UTC")
    rows = []
    for sym, lp in ((Y, ly), (X, lx)):
        close = np.exp(lp)
        open_ = np.r_[close[0], close[:-1]]
        vol = rng.uniform(5, 50, n)
        buy = vol * rng.uniform(0.2, 0.8, n)
        for i in range(n):
            hi, lo = max(open_[i], close[i]) * 1.0005, min(open_[i], close[i]) * 0.9995
            vwap = (open_[i] + close[i] + hi + lo) / 4
            rows.append(
                (
                    buckets[i].to_pydatetime(),
                    sym,
                    "1m",
                    open_[i],
                    hi,
                    lo,
                    close[i],
                    vol[i],
                    vol[i] * vwap,
                    vwap,
                    40 + i % 7,
                    buy[i],
                )
            )
    return pd.DataFrame(
        rows,
        columns=[
            "bucket",
            "symbol",
            "interval",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "quote_volume",
            "vwap",
            "trade_count",
            "buy_volume",
        ],
    )


def seed_database(conn: psycopg.Connection, end: datetime = END) -> None:
    """ohlcv (1m, both legs), pair_statistics (live + batch), three alert events."""
    bars = make_pair_bars(end=end)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume,"
            " quote_volume, vwap, trade_count, buy_volume)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [tuple(r) for r in bars.itertuples(index=False)],
        )
        stats = []
        for i in range(20):
            t = end - timedelta(minutes=10 * (19 - i))
            stats.append(
                (
                    t,
                    Y,
                    X,
                    "live",
                    "ols",
                    "1s",
                    3600,
                    0.9,
                    0.5,
                    0.0,
                    0.01,
                    0.1 * i - 1,
                    0.93,
                    -4.0,
                    0.001 * (i + 1),
                    None,
                    None,
                    12.0 + i,
                    3600,
                )
            )
            if i % 4 == 0:
                stats.append(
                    (
                        t,
                        Y,
                        X,
                        "batch",
                        "ols",
                        "1m",
                        1440,
                        0.91,
                        0.4,
                        0.0,
                        0.012,
                        0.2,
                        0.9,
                        -3.5,
                        0.01,
                        -3.2,
                        0.04,
                        15.0,
                        1440,
                    )
                )
        cur.executemany(
            "INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval,"
            " window_size, hedge_ratio, intercept, spread_mean, spread_std, zscore, correlation,"
            " adf_stat, adf_pvalue, eg_stat, eg_pvalue, half_life, n_obs)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            stats,
        )
        cur.executemany(
            "INSERT INTO alert_events (time, rule_name, kind, target, severity, message, metrics,"
            " source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    end - timedelta(minutes=30),
                    "z-high",
                    "zscore",
                    f"{Y}/{X}",
                    "warning",
                    "z-score 2.31 above 2",
                    Jsonb({"zscore": 2.31}),
                    "daemon",
                ),
                (
                    end - timedelta(minutes=5),
                    "coint-break",
                    "cointegration_break",
                    f"{Y}/{X}",
                    "critical",
                    "cointegration p-value 0.21 above 0.05",
                    Jsonb({"pvalue": 0.21}),
                    "dagster",
                ),
                (
                    end - timedelta(minutes=60),
                    "vol-spike",
                    "volatility_spike",
                    Y,
                    "info",
                    "vol ratio 2.1",
                    Jsonb({"vol_ratio": 2.1}),
                    "daemon",
                ),
            ],
        )


def seed_redis(
    client: redis_lib.Redis, prefix: str, feed: str = "simulator", now: float | None = None
) -> None:
    """Live cache (pair + symbols), last trades, the daemon's heartbeat, 2 min of ticks."""
    now = time.time() if now is None else now
    keys = RedisKeys(prefix)
    pair = {
        "zscore": 2.4,
        "hedge_ratio": 0.9,
        "intercept": 0.5,
        "spread": 0.02,
        "spread_mean": 0.0,
        "spread_std": 0.008,
        "correlation": 0.93,
        "adf_stat": -4.2,
        "adf_pvalue": 0.0007,
        "coint_pvalue": 0.004,
        "half_life": 42.0,
        "n_obs": 3600,
        "computed_at": now - 3,
        "compute_ms": 1.7,
    }
    client.set(keys.pair_analytics(Y, X), json.dumps(pair), ex=60)
    for sym, price in ((Y, 60000.0), (X, 3000.0)):
        payload = {
            "last_price": price,
            "vwap": price * 0.999,
            "imbalance": 0.12,
            "vol_percentile": 81.0,
            "realized_vol": 0.0004,
            "trend_direction": 1,
            "trend_slope": 1e-6,
            "trend_pvalue": 0.01,
            "n_trades": 1000,
            "price": price,
            "vol_short": 0.0004,
            "vol_long": 0.0003,
            "vol_ratio": 1.33,
            "computed_at": now - 3,
            "compute_ms": 1.7,
        }
        client.set(keys.symbol_analytics(sym), json.dumps(payload), ex=60)
        client.hset(
            keys.last_trade(sym), mapping={"p": str(price), "q": "0.5", "T": str(int(now * 1000))}
        )
    client.hset(
        keys.feed_health,
        mapping={
            "feed": feed,
            "stream": "trade",
            "url": "ws://127.0.0.1:9443",
            "last_trade_age_s": "0.4",
            "accepted": "12345",
            "rejected": "0",
            "updated": f"{now:.0f}",
        },
    )
    rng = np.random.default_rng(3)
    pipe = client.pipeline(transaction=False)
    start_ms = int((now - 120) * 1000)
    px = {Y: 60000.0, X: 3000.0}
    for i in range(480):  # 4 ticks a second for 2 minutes, both symbols
        t = start_ms + i * 250
        for sym in (Y, X):
            px[sym] *= math.exp(rng.normal(0, 0.0002))
            pipe.xadd(
                keys.ticks(sym),
                {
                    "p": f"{px[sym]:.2f}",
                    "q": f"{rng.uniform(0.01, 1):.3f}",
                    "T": str(t),
                    "m": str(int(rng.random() < 0.5)),
                },
                id=f"{t}-*",
            )
    pipe.execute()
