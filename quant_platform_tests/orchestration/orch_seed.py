"""Seeding helpers for the Dagster tests: synthetic trades written with COPY."""

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg

TRADE_COLUMNS = (
    "time",
    "symbol",
    "trade_id",
    "price",
    "qty",
    "is_buyer_maker",
    "event_time",
    "receive_time",
)


def copy_trades(conn: psycopg.Connection, rows: Iterable[tuple]) -> int:
    """COPY (time, symbol, trade_id, price, qty, is_buyer_maker) rows into trades."""
    n = 0
    with conn.cursor().copy(
        "COPY trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time)"
        " FROM STDIN"
    ) as cp:
        for t, sym, tid, price, qty, bim in rows:
            cp.write_row((t, sym, tid, price, qty, bim, t, t))
            n += 1
    return n


def synthetic_trades(
    symbols: list[str],
    start: datetime,
    end: datetime,
    per_symbol: int,
    seed: int = 7,
    tie_every: int = 0,
) -> pd.DataFrame:
    """Random trades in [start, end): random-walk prices, ms timestamps, some ms ties."""
    rng = np.random.default_rng(seed)
    span_ms = int((end - start).total_seconds() * 1000)
    frames = []
    for i, sym in enumerate(symbols):
        offs = np.sort(rng.integers(0, span_ms, per_symbol))
        if tie_every:  # some trades share a millisecond; trade_id keeps their order
            idx = np.arange(tie_every, per_symbol, tie_every)
            offs[idx] = offs[idx - 1]
        price = (100.0 * (i + 1)) * np.exp(np.cumsum(rng.normal(0, 2e-4, per_symbol)))
        frames.append(
            pd.DataFrame(
                {
                    "time": pd.Timestamp(start) + pd.to_timedelta(offs, unit="ms"),
                    "symbol": sym,
                    "trade_id": np.arange(1, per_symbol + 1) + 1_000_000 * i,
                    "price": np.round(price, 4),
                    "qty": np.round(rng.exponential(0.5, per_symbol) + 0.001, 6),
                    "is_buyer_maker": rng.random(per_symbol) < 0.5,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def seed_frame(conn: psycopg.Connection, df: pd.DataFrame) -> int:
    rows = (
        (
            r.time.to_pydatetime(),
            r.symbol,
            int(r.trade_id),
            float(r.price),
            float(r.qty),
            bool(r.is_buyer_maker),
        )
        for r in df.itertuples(index=False)
    )
    return copy_trades(conn, rows)


def minute_floor(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)
