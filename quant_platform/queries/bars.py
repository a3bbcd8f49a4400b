"""OHLCV bars for charts: materialised bars from TimescaleDB, live 1 s bars from Redis ticks.

Both sources return the same long frame (one row per symbol and bar, columns of
`BAR_COLUMNS`) so the dashboard and reports chart them with one code path.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import pandas as pd
import psycopg
import redis

from quant_platform.config.settings import validate_symbol
from quant_platform.storage.redis_keys import RedisKeys

BAR_INTERVALS = ("1m", "5m", "1h")
BAR_SECONDS = {"1s": 1, "1m": 60, "5m": 300, "1h": 3600}
BAR_COLUMNS = [
    "bucket",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trade_count",
    "buy_volume",
]
MAX_BARS = 20_000

# Newest `limit` bars of one symbol: walks the (symbol, interval, bucket) primary key
# backwards, so the cost is the limit, not the table size.
_BARS_SQL = """
SELECT bucket, symbol, open, high, low, close, volume, quote_volume, vwap, trade_count,
       buy_volume
FROM ohlcv
WHERE symbol = %(symbol)s AND interval = %(interval)s
ORDER BY bucket DESC
LIMIT %(limit)s
"""


def empty_bars() -> pd.DataFrame:
    """The bar frame with no rows (typed columns), for 'no data yet' paths."""
    df = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS})
    df["bucket"] = pd.Series(dtype="datetime64[ns, UTC]")
    df["symbol"] = pd.Series(dtype="object")
    df["trade_count"] = pd.Series(dtype="int64")
    return df


def _check_symbols(symbols: Iterable[str]) -> list[str]:
    return [validate_symbol(s) for s in symbols]


def load_bars(
    conn: psycopg.Connection, symbols: Iterable[str], interval: str, limit: int = 500
) -> pd.DataFrame:
    """The newest `limit` bars per symbol from `ohlcv`, oldest first, `bucket` in UTC.

    Raises:
        ValueError: an unknown interval or a malformed symbol (they reach SQL only as
            parameters, but a typo should fail loudly, not return an empty chart).
    """
    if interval not in BAR_INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(BAR_INTERVALS)}, got {interval!r}")
    limit = int(min(max(limit, 1), MAX_BARS))
    rows: list[tuple] = []
    with conn.cursor() as cur:
        for sym in _check_symbols(symbols):
            cur.execute(_BARS_SQL, {"symbol": sym, "interval": interval, "limit": limit})
            rows.extend(cur.fetchall())
    if not rows:
        return empty_bars()
    df = pd.DataFrame(rows, columns=BAR_COLUMNS)
    df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
    for c in BAR_COLUMNS[2:]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df.sort_values(["symbol", "bucket"], kind="stable").reset_index(drop=True)


def _field(entry: dict, *names: str) -> str | None:
    for n in names:
        v = entry.get(n)
        if v is not None:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def _ticks_frame(entries: list[tuple[bytes | str, dict]]) -> pd.DataFrame:
    """Stream entries → time/price/qty/buyer_is_maker; unreadable entries are dropped."""
    t, p, q, m = [], [], [], []
    for entry_id, raw in entries:
        fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
        price, qty = _field(fields, "p", "price"), _field(fields, "q", "qty")
        ts = _field(fields, "T", "time", "t")
        if ts is None:  # fall back to the stream id's millisecond part
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            ts = eid.split("-")[0]
        maker = (_field(fields, "m", "buyer_is_maker") or "0").lower() in ("1", "true", "t", "yes")
        try:
            t.append(int(float(ts)))
            p.append(float(price))  # type: ignore[arg-type]
            q.append(float(qty))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        m.append(maker)
    return pd.DataFrame({"time": t, "price": p, "qty": q, "buyer_is_maker": m})


def ticks_to_bars(ticks: pd.DataFrame, symbol: str, seconds: int = 1) -> pd.DataFrame:
    """Resample one symbol's trades into OHLCV bars of `seconds` (empty bars are omitted)."""
    ok = np.isfinite(ticks["price"]) & (ticks["price"] > 0) & np.isfinite(ticks["qty"])
    ticks = ticks[ok]
    if ticks.empty:
        return empty_bars()
    ts = pd.to_datetime(ticks["time"].to_numpy(), unit="ms", utc=True)
    df = ticks.assign(
        bucket=ts.floor(f"{seconds}s"),
        notional=ticks["price"] * ticks["qty"],
        buy=np.where(ticks["buyer_is_maker"], 0.0, ticks["qty"]),
    )
    df = df.sort_values("time", kind="stable")
    g = df.groupby("bucket", sort=True)
    bars = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["qty"].sum(),
            "quote_volume": g["notional"].sum(),
            "trade_count": g["price"].size(),
            "buy_volume": g["buy"].sum(),
        }
    )
    bars["vwap"] = bars["quote_volume"] / bars["volume"].where(bars["volume"] > 0)
    bars = bars.reset_index()
    bars["symbol"] = symbol
    return bars[BAR_COLUMNS]


def live_bars(
    client: redis.Redis,
    keys: RedisKeys,
    symbols: Iterable[str],
    seconds: int = 300,
    max_ticks: int = MAX_BARS,
) -> pd.DataFrame:
    """1 s bars over the last `seconds` from the per-symbol Redis tick streams.

    Stream ids are the daemon's insert time in ms, so the range read is bounded by
    time as well as by `max_ticks`; the bars themselves use exchange trade time.
    """
    start_ms = int((time.time() - seconds) * 1000)
    syms = _check_symbols(symbols)
    pipe = client.pipeline(transaction=False)
    for sym in syms:
        pipe.xrevrange(keys.ticks(sym), max="+", min=str(start_ms), count=max_ticks)
    frames = [
        ticks_to_bars(_ticks_frame(list(reversed(entries))), sym)
        for sym, entries in zip(syms, pipe.execute(), strict=True)
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty_bars()
    return pd.concat(frames, ignore_index=True)


def closes_wide(bars: pd.DataFrame, symbols: list[str], ffill_limit: int = 5) -> pd.DataFrame:
    """Close per symbol on a common clock (outer join, short gaps forward-filled, rest dropped).

    Pair statistics need both legs at the same instant; a gap longer than
    `ffill_limit` bars is a missing observation, not a flat price.
    """
    if bars.empty:
        return pd.DataFrame(columns=symbols, dtype="float64")
    wide = bars.pivot_table(index="bucket", columns="symbol", values="close", aggfunc="last")
    wide = wide.reindex(columns=symbols).sort_index().ffill(limit=ffill_limit)
    return wide.dropna()
