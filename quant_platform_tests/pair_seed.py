"""Seed `ohlcv` and `funding_rates` with a cointegrated pair (for backtest tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import psycopg

START = datetime(2026, 11, 1, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


def pair_closes(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(ETH-like y, BTC-like x) closes with a mean-reverting log spread."""
    rng = np.random.default_rng(seed)
    lx = np.log(60_000.0) + np.cumsum(rng.normal(0, 6e-4, n))
    s = np.zeros(n)
    eps = rng.normal(0, 5e-4, n)
    for i in range(1, n):
        s[i] = 0.97 * s[i - 1] + eps[i]
    ly = np.log(3_000.0) + 0.9 * (lx - lx[0]) + s
    return np.round(np.exp(ly), 2), np.round(np.exp(lx), 1)


def seed_pair(
    conn: psycopg.Connection, n: int = 2880, y: str = "ETHUSDT", x: str = "BTCUSDT"
) -> None:
    """`n` 1-minute bars per leg from START and 8-hourly funding for both legs."""
    cy, cx = pair_closes(n)
    rows = []
    for sym, close, vol in ((y, cy, 40.0), (x, cx, 2.0)):
        for i in range(n):
            c = float(close[i])
            rows.append((START_MS + 60_000 * i, sym, c, c, c, c, vol, vol * c, c, 10, vol / 2))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume,"
            " quote_volume, vwap, trade_count, buy_volume) VALUES"
            " ('epoch'::timestamptz + %s * interval '1 millisecond', %s, '1m', %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s)",
            rows,
        )
        funding = []
        for k in range(n // 480 + 1):
            t = START_MS + k * 8 * 3_600_000
            funding.append((y, t, 1e-4 * (1 + k % 3)))
            funding.append((x, t, -5e-5 * (1 + k % 2)))
        cur.executemany(
            "INSERT INTO funding_rates (symbol, funding_time, funding_rate) VALUES"
            " (%s, 'epoch'::timestamptz + %s * interval '1 millisecond', %s)",
            funding,
        )
