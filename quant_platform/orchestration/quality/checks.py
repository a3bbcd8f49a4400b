"""Data-quality checks on `trades` and `ohlcv`, each over a recent window.

Checks look at the last `hours` (default a day) so they stay cheap on a week of
ticks; the still-open minute is excluded where a partial bucket would be a false alarm.
"""

import math
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Config,
    MetadataValue,
    asset_check,
)

from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource

TRADES = AssetKey("trades")


class CheckWindow(Config):
    """How far back a check looks."""

    hours: float = 24.0


class SampleConfig(CheckWindow):
    samples: int = 5
    rel_tol: float = 1e-9


_OHLC_SQL = """
SELECT count(*) FILTER (WHERE low > least(open, close) OR high < greatest(open, close)
                          OR low > high),
       count(*) FILTER (WHERE volume < 0 OR buy_volume < 0 OR buy_volume > volume * (1 + 1e-9)),
       count(*)
FROM ohlcv WHERE bucket >= now() - make_interval(secs => %(secs)s)
"""


@asset_check(
    asset=ohlcv,
    description="low <= open/close <= high and volume >= 0 for every bar in the window.",
    blocking=False,
)
def ohlcv_consistency(config: CheckWindow, timescale: TimescaleResource) -> AssetCheckResult:
    with timescale.connect() as conn:
        bad_prices, bad_volume, total = conn.execute(
            _OHLC_SQL, {"secs": config.hours * 3600}
        ).fetchone()
    return AssetCheckResult(
        passed=bad_prices == 0 and bad_volume == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"bars_checked": total, "bad_ohlc": bad_prices, "bad_volume": bad_volume},
    )


# Recompute a few random closed 1m bars straight from trades and compare field by field.
_SAMPLE_SQL = """
WITH sample AS (
    SELECT bucket, symbol, open, high, low, close, volume, trade_count, buy_volume
    FROM ohlcv
    WHERE interval = '1m' AND bucket >= now() - make_interval(secs => %(secs)s)
      AND bucket < date_trunc('minute', now())
    ORDER BY random() LIMIT %(samples)s
)
SELECT s.bucket, s.symbol,
       s.open, s.high, s.low, s.close, s.volume, s.trade_count, s.buy_volume,
       t.open, t.high, t.low, t.close, t.volume, t.trade_count, t.buy_volume
FROM sample s
LEFT JOIN LATERAL (
    SELECT first(price, (time, trade_id)) AS open, max(price) AS high, min(price) AS low,
           last(price, (time, trade_id)) AS close, sum(qty) AS volume,
           count(*) AS trade_count,
           coalesce(sum(qty) FILTER (WHERE NOT is_buyer_maker), 0) AS buy_volume
    FROM trades
    WHERE symbol = s.symbol AND time >= s.bucket AND time < s.bucket + interval '1 minute'
      -- the bar's own kind preference: @trade rows if the minute has any, else @aggTrade
      AND kind = CASE WHEN EXISTS (
              SELECT 1 FROM trades x WHERE x.symbol = s.symbol AND x.kind = 'trade'
                AND x.time >= s.bucket AND x.time < s.bucket + interval '1 minute')
          THEN 'trade' ELSE 'aggTrade' END
) t ON true
"""
_FIELDS = ("open", "high", "low", "close", "volume", "trade_count", "buy_volume")


def _close(a: float | None, b: float | None, rel_tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-12)


@asset_check(
    asset=ohlcv,
    description="A random sample of closed 1m bars equals a fresh aggregation of their trades.",
    blocking=False,
)
def ohlcv_matches_trades(config: SampleConfig, timescale: TimescaleResource) -> AssetCheckResult:
    with timescale.connect() as conn:
        rows = conn.execute(
            _SAMPLE_SQL, {"secs": config.hours * 3600, "samples": config.samples}
        ).fetchall()
    mismatches = []
    for row in rows:
        bar, fresh = row[2:9], row[9:16]
        diff = [
            f
            for f, a, b in zip(_FIELDS, bar, fresh, strict=True)
            if not _close(a, b, config.rel_tol)
        ]
        if diff:
            mismatches.append(f"{row[1]} {row[0].isoformat()}: {', '.join(diff)}")
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "buckets_sampled": len(rows),
            "mismatches": len(mismatches),
            "mismatched_bars": MetadataValue.json(mismatches[:20]),
        },
    )


# A (symbol, kind, trade_id) stored twice means the idempotent writer was bypassed
# (the unique key (symbol, kind, trade_id, time) includes time, so a replay with a
# shifted timestamp slips through).
_DUP_SQL = """
SELECT symbol, count(*) FROM (
    SELECT symbol, kind, trade_id FROM trades
    WHERE time >= now() - make_interval(secs => %(secs)s)
    GROUP BY symbol, kind, trade_id HAVING count(*) > 1
) d GROUP BY symbol
"""


@asset_check(asset=TRADES, description="No trade id is stored twice per symbol and stream kind.")
def trades_no_duplicates(config: CheckWindow, timescale: TimescaleResource) -> AssetCheckResult:
    with timescale.connect() as conn:
        rows = conn.execute(_DUP_SQL, {"secs": config.hours * 3600}).fetchall()
    per_symbol = {str(s): int(n) for s, n in rows}
    return AssetCheckResult(
        passed=not per_symbol,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "duplicate_trade_ids": sum(per_symbol.values()),
            "by_symbol": MetadataValue.json(per_symbol),
        },
    )


# Minutes of the window (closed ones only) in which a symbol had no trade at all.
# Minutes are counted from each symbol's first trade in the window, so a platform that
# started (or was seeded) an hour ago is not charged for the 23 hours before it existed.
# A symbol with no trade at all in the window is charged the whole window.
_GAPS_SQL = """
WITH firsts AS (
    SELECT s.symbol,
           (SELECT min(time) FROM trades t WHERE t.symbol = s.symbol
              AND t.time >= date_trunc('minute', now() - make_interval(secs => %(secs)s))) AS first
    FROM unnest(%(symbols)s::text[]) AS s(symbol)
),
minutes AS (
    SELECT f.symbol, g.m FROM firsts f
    CROSS JOIN LATERAL generate_series(
        date_trunc('minute', coalesce(f.first, now() - make_interval(secs => %(secs)s))),
        date_trunc('minute', now()) - interval '1 minute', interval '1 minute') AS g(m)
),
seen AS (
    SELECT DISTINCT symbol, time_bucket('1 minute', time) AS m FROM trades
    WHERE time >= date_trunc('minute', now() - make_interval(secs => %(secs)s))
      AND symbol = ANY(%(symbols)s)
)
SELECT f.symbol, count(minutes.m) FILTER (WHERE seen.m IS NULL), count(minutes.m)
FROM firsts f
LEFT JOIN minutes ON minutes.symbol = f.symbol
LEFT JOIN seen ON seen.symbol = minutes.symbol AND seen.m = minutes.m
GROUP BY f.symbol ORDER BY f.symbol
"""


@asset_check(
    asset=TRADES,
    description="Minutes without any trade per symbol (a warning: quiet markets happen).",
)
def trades_minutes_without_trades(
    config: CheckWindow, timescale: TimescaleResource, platform: PlatformSettingsResource
) -> AssetCheckResult:
    with timescale.connect() as conn:
        rows = conn.execute(
            _GAPS_SQL, {"secs": config.hours * 3600, "symbols": list(platform.symbols)}
        ).fetchall()
    gaps = {str(s): int(g) for s, g, _ in rows}
    minutes = max((int(r[2]) for r in rows), default=0)
    return AssetCheckResult(
        passed=sum(gaps.values()) == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "minutes_checked": minutes,
            "empty_minutes": sum(gaps.values()),
            "by_symbol": MetadataValue.json(gaps),
        },
    )


_NEWEST_SQL = """
SELECT s.symbol, (SELECT max(time) FROM trades t
                  WHERE t.symbol = s.symbol AND t.time > now() - interval '7 days')
FROM unnest(%(symbols)s::text[]) AS s(symbol)
"""


def newest_trades(timescale: TimescaleResource, symbols: list[str]) -> dict[str, datetime | None]:
    """Newest trade time per symbol (None: nothing in the last week); uses the symbol/time index."""
    with timescale.connect() as conn:
        return dict(conn.execute(_NEWEST_SQL, {"symbols": symbols}).fetchall())


@asset_check(
    asset=TRADES,
    description="Every symbol's newest trade is younger than QP_FEED_MAX_AGE_S.",
)
def trades_feed_freshness(
    timescale: TimescaleResource, platform: PlatformSettingsResource
) -> AssetCheckResult:
    now = datetime.now(UTC)
    newest = newest_trades(timescale, list(platform.symbols))
    ages = {s: (now - t).total_seconds() if t else None for s, t in newest.items()}
    stale = sorted(s for s, a in ages.items() if a is None or a > platform.feed_max_age_s)
    return AssetCheckResult(
        passed=not stale,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "max_age_s": platform.feed_max_age_s,
            "stale_symbols": MetadataValue.json(stale),
            "age_s": MetadataValue.json(
                {s: round(a, 3) if a is not None else None for s, a in ages.items()}
            ),
        },
    )


ohlcv_checks = [ohlcv_consistency, ohlcv_matches_trades]
trades_checks = [trades_no_duplicates, trades_minutes_without_trades, trades_feed_freshness]
