"""Seed 1m bars with a planted cointegrated pair among random walks (shared by research tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

PLANTED = ("ETHUSDT", "BTCUSDT")


def seed_universe(
    db: psycopg.Connection, n: int = 400, end: datetime | None = None, thin: str | None = "DOGEUSDT"
) -> dict[str, np.ndarray]:
    """ETH ~ 1.3 BTC cointegrated; BNB, SOL independent walks; `thin` a walk with tiny volume."""
    rng = np.random.default_rng(21)
    lx = np.log(40_000) + np.cumsum(rng.normal(0, 1e-3, n))
    u = np.zeros(n)
    for i in range(1, n):
        u[i] = 0.7 * u[i - 1] + rng.normal(0, 5e-4)
    closes = {
        "BTCUSDT": np.exp(lx),
        "ETHUSDT": np.exp(-3.0 + 1.3 * lx + u),
        "BNBUSDT": np.exp(np.log(600) + np.cumsum(rng.normal(0, 1e-3, n))),
        "SOLUSDT": np.exp(np.log(150) + np.cumsum(rng.normal(0, 1e-3, n))),
    }
    if thin:
        closes[thin] = np.exp(np.log(0.2) + np.cumsum(rng.normal(0, 1e-3, n)))
    end = end or datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for sym, c in closes.items():
        vol = 0.01 if sym == thin else 100.0
        for i, price in enumerate(c):
            t = end - timedelta(minutes=n - i)
            qv = price * vol
            rows.append((t, sym, "1m", price, price, price, price, vol, qv, price, 1, vol / 2))
    db.cursor().executemany(
        "INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume, "
        "quote_volume, vwap, trade_count, buy_volume) VALUES "
        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )
    return closes
