"""Resample `trades` into 1m bars and roll them up to 5m/1h, inside TimescaleDB.

One place for the SQL both writers use: Dagster's hourly `ohlcv` partitions (backfills
and each hour's final run) and the ingestion daemon, which keeps the still-open hour's
bars fresh every ~30 s without a Dagster run each time.
"""

from datetime import datetime

import psycopg

INTERVALS: dict[str, str] = {"1m": "1 minute", "5m": "5 minutes", "1h": "1 hour"}

# Serialises overlapping resamples (the open hour vs. a backfill) so delete+insert
# never races into a primary-key violation, while disjoint windows run side by side
# (a backfill fanned out over Celery workers, one step per hour): a window of up to
# MAX_HOUR_LOCKS hours holds the common lock shared plus one exclusive lock per hour
# (taken in ascending order, so no deadlock); a longer window (a single-run backfill of
# days) holds the common lock exclusively instead of thousands of hour locks.
MAX_HOUR_LOCKS = 48
_LOCK_ALL_SQL = "SELECT pg_advisory_xact_lock(hashtext('qp:ohlcv:resample'))"
_LOCK_SHARED_SQL = "SELECT pg_advisory_xact_lock_shared(hashtext('qp:ohlcv:resample'))"
_LOCK_HOURS_SQL = (
    "SELECT count(pg_advisory_xact_lock(hashtext('qp:ohlcv:hour'), h))"
    " FROM generate_series(%(h0)s::int, %(h1)s::int) AS h"
)

_DELETE_SQL = "DELETE FROM ohlcv WHERE bucket >= %(start)s AND bucket < %(end)s"

# One kind per (symbol, minute), never both summed: @trade rows when the minute has any,
# else @aggTrade rows (the stream fell back, or a gap older than /fapi/v1/trades reaches
# was filled from aggTrades). An aggTrade is the sum of the trades it covers, so adding
# both kinds would count the same volume twice. First/last by (time, trade_id): trades
# in the same millisecond keep exchange order.
_INSERT_1M_SQL = """
WITH src AS (
    SELECT time_bucket(%(width)s::interval, time) AS bucket, symbol, kind, time, trade_id,
           price, qty, is_buyer_maker
    FROM trades
    WHERE time >= %(start)s AND time < %(end)s
), pick AS (
    SELECT bucket, symbol,
           CASE WHEN bool_or(kind = 'trade') THEN 'trade' ELSE 'aggTrade' END AS kind
    FROM src GROUP BY 1, 2
)
INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume,
                   quote_volume, vwap, trade_count, buy_volume)
SELECT src.bucket, src.symbol, '1m',
       first(price, (time, trade_id)), max(price), min(price), last(price, (time, trade_id)),
       sum(qty), sum(price * qty), sum(price * qty) / NULLIF(sum(qty), 0), count(*),
       coalesce(sum(qty) FILTER (WHERE NOT is_buyer_maker), 0)
FROM src JOIN pick USING (bucket, symbol, kind)
GROUP BY 1, 2
"""

_ROLLUP_SQL = """
INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume,
                   quote_volume, vwap, trade_count, buy_volume)
SELECT time_bucket(%(width)s::interval, bucket) AS b, symbol, %(interval)s,
       first(open, bucket), max(high), min(low), last(close, bucket),
       sum(volume), sum(quote_volume), sum(quote_volume) / NULLIF(sum(volume), 0),
       sum(trade_count), sum(buy_volume)
FROM ohlcv
WHERE interval = '1m' AND bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2
"""


def resample_window(conn: psycopg.Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Replace every bar in [start, end) from the trades in it; one transaction.

    `start`/`end` must be hour-aligned (partition bounds are), so 5m and 1h buckets
    never straddle the window. Returns rows written per interval.
    """
    params = {"start": start, "end": end}
    written: dict[str, int] = {}
    with conn.transaction():
        _lock_hours(conn, start, end)
        conn.execute(_DELETE_SQL, params)
        cur = conn.execute(_INSERT_1M_SQL, {**params, "width": INTERVALS["1m"]})
        written["1m"] = cur.rowcount
        for name in ("5m", "1h"):
            cur = conn.execute(_ROLLUP_SQL, {**params, "width": INTERVALS[name], "interval": name})
            written[name] = cur.rowcount
    return written


def _lock_hours(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """Lock the window's hours against overlapping resamples (see MAX_HOUR_LOCKS)."""
    h0 = int(start.timestamp()) // 3600
    h1 = -(-int(end.timestamp()) // 3600) - 1
    if h1 - h0 + 1 > MAX_HOUR_LOCKS:
        conn.execute(_LOCK_ALL_SQL)
        return
    conn.execute(_LOCK_SHARED_SQL)
    conn.execute(_LOCK_HOURS_SQL, {"h0": h0, "h1": h1})
