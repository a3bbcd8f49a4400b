"""I/O of the research workspace: bars for the screener, stored screens, the promoted pair set.

The analytics themselves (analytics/screener.py, analytics/lead_lag.py) are
pure; everything that touches TimescaleDB or Redis for them is here, shared by
the CLI, the Dagster asset and the dashboard.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import redis
from psycopg import sql

from quant_platform.analytics.screener import PairScreen, ScreenResult
from quant_platform.storage.redis_keys import RedisKeys

_LOOKBACK_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_INTERVAL_RE = re.compile(r"^(\d+)([smhd])$")
# A bar without trades carries the last close forward for up to this many bars;
# longer gaps stay missing rather than faking a flat, perfectly correlated price.
FFILL_LIMIT_BARS = 60


def parse_duration(text: str, what: str = "--lookback") -> timedelta:
    """`7d`, `12h`, `90m`, `2w` → timedelta.

    Raises:
        ValueError: anything else, naming the flag and the accepted form.
    """
    m = _LOOKBACK_RE.match(text or "")
    if not m:
        raise ValueError(f"{what}: {text!r} is not a duration; use e.g. 7d, 12h, 90m, 2w")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


def interval_seconds(interval: str) -> int:
    """`1m` → 60.

    Raises:
        ValueError: a malformed interval."""
    m = _INTERVAL_RE.match(interval)
    if not m:
        raise ValueError(f"--timeframe: {interval!r} is not a bar interval; use e.g. 1m, 5m, 1h")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def symbols_with_bars(conn: psycopg.Connection, interval: str, start: datetime) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT symbol FROM ohlcv WHERE interval = %s AND bucket >= %s ORDER BY 1",
        (interval, start),
    ).fetchall()
    return [r[0] for r in rows]


@dataclass(frozen=True)
class BarWindow:
    """Wide frames on a complete bar clock: log closes and quote volume per symbol."""

    log_prices: pd.DataFrame
    quote_volume: pd.DataFrame
    interval: str
    start: datetime
    end: datetime


def load_bar_window(
    conn: psycopg.Connection,
    symbols: list[str] | None,
    interval: str,
    lookback: timedelta,
    end: datetime | None = None,
) -> BarWindow:
    """Bars of `interval` in [end - lookback, end) for `symbols` (None: every symbol with bars).

    Raises:
        ValueError: malformed interval.
    """
    step = interval_seconds(interval)
    end = end or datetime.now(UTC)
    start = end - lookback
    if not symbols:
        symbols = symbols_with_bars(conn, interval, start)
    rows = conn.execute(
        "SELECT bucket, symbol, close, quote_volume FROM ohlcv WHERE interval = %s"
        " AND symbol = ANY(%s) AND bucket >= %s AND bucket < %s ORDER BY bucket",
        (interval, list(symbols), start, end),
    ).fetchall()
    if not rows:
        empty = pd.DataFrame(columns=list(symbols), dtype=float)
        return BarWindow(empty, empty.copy(), interval, start, end)
    frame = pd.DataFrame(rows, columns=["bucket", "symbol", "close", "quote_volume"])
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    close = frame.pivot(index="bucket", columns="symbol", values="close")
    qv = frame.pivot(index="bucket", columns="symbol", values="quote_volume")
    clock = pd.date_range(close.index.min(), close.index.max(), freq=f"{step}s")
    cols = [s for s in symbols if s in close.columns]
    close = close.reindex(index=clock, columns=cols).astype(float)
    close = close.where(close > 0).ffill(limit=FFILL_LIMIT_BARS)
    # a bar with no trades has zero quote volume: the liquidity figure must see it
    qv = qv.reindex(index=clock, columns=cols).astype(float).fillna(0.0)
    return BarWindow(np.log(close), qv, interval, start, end)


_SCREEN_COLUMNS = list(PairScreen.__dataclass_fields__)
_ids = sql.SQL(", ").join
_INSERT_SCREEN = sql.SQL(
    "INSERT INTO pair_screens (screen_id, screened_at, bar_interval, window_start, window_end,"
    " {cols}) VALUES (%s, %s, %s, %s, %s, {vals})"
    " ON CONFLICT ON CONSTRAINT pair_screens_pkey DO UPDATE SET {updates}"
).format(
    cols=_ids(map(sql.Identifier, _SCREEN_COLUMNS)),
    vals=_ids([sql.Placeholder()] * len(_SCREEN_COLUMNS)),
    updates=_ids(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in ["screened_at", *_SCREEN_COLUMNS]
    ),
)
_SELECT_SCREEN = sql.SQL(
    "SELECT screen_id, bar_interval, window_start, window_end, {cols} FROM pair_screens"
    " WHERE screen_id = %s ORDER BY rank"
).format(cols=_ids(map(sql.Identifier, _SCREEN_COLUMNS)))


def _db(v: object) -> object:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def save_screen(
    conn: psycopg.Connection, screen_id: str, window: BarWindow, result: ScreenResult
) -> int:
    """Replace the rows of `screen_id` with `result`; one transaction. Returns rows written."""
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute("DELETE FROM pair_screens WHERE screen_id = %s", (screen_id,))
        with conn.cursor() as cur:
            cur.executemany(
                _INSERT_SCREEN,
                [
                    (
                        screen_id,
                        now,
                        window.interval,
                        window.start,
                        window.end,
                        *(_db(getattr(p, c)) for c in _SCREEN_COLUMNS),
                    )
                    for p in result.pairs
                ],
            )
    return len(result.pairs)


def screen_ids(conn: psycopg.Connection, limit: int = 50) -> list[str]:
    rows = conn.execute(
        "SELECT screen_id FROM pair_screens GROUP BY screen_id ORDER BY max(screened_at) DESC"
        " LIMIT %s",
        (limit,),
    ).fetchall()
    return [r[0] for r in rows]


def load_screen(conn: psycopg.Connection, screen_id: str | None = None) -> pd.DataFrame:
    """Rows of one stored screen (default: the newest), ranked."""
    if screen_id is None:
        ids = screen_ids(conn, 1)
        if not ids:
            return pd.DataFrame(columns=["screen_id", "bar_interval", *_SCREEN_COLUMNS])
        screen_id = ids[0]
    cur = conn.execute(_SELECT_SCREEN, (screen_id,))
    names = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=names)


class LivePairs:
    """The promoted pair set: `live_pairs` rows plus the Redis set the daemon reads each cycle.

    Raises psycopg.Error / redis.RedisError from every method when a store is down.
    """

    def __init__(self, database_url: str, redis_url: str, prefix: str) -> None:
        self.database_url = database_url
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=3, decode_responses=True)
        self.key = RedisKeys(prefix).live_pairs

    def promote(
        self, y: str, x: str, added_by: str = "dashboard", screen_id: str | None = None
    ) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO live_pairs (symbol_y, symbol_x, added_by, screen_id)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT ON CONSTRAINT live_pairs_pkey DO NOTHING",
                (y, x, added_by, screen_id),
            )
        self.redis.sadd(self.key, f"{y}/{x}")

    def demote(self, y: str, x: str) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM live_pairs WHERE symbol_y = %s AND symbol_x = %s", (y, x))
        self.redis.srem(self.key, f"{y}/{x}")

    def sync(self) -> int:
        """Rebuild the Redis set from the table (after a Redis flush); returns its size."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT symbol_y, symbol_x FROM live_pairs").fetchall()
        pipe = self.redis.pipeline()
        pipe.delete(self.key)
        if rows:
            pipe.sadd(self.key, *(f"{y}/{x}" for y, x in rows))
        pipe.execute()
        return len(rows)

    def list(self) -> pd.DataFrame:
        with psycopg.connect(self.database_url) as conn:
            cur = conn.execute(
                "SELECT symbol_y, symbol_x, added_at, added_by, screen_id FROM live_pairs"
                " ORDER BY added_at"
            )
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    def close(self) -> None:
        self.redis.close()
