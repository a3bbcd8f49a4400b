"""Batch pair statistics over the stored 1m bars, appended to `pair_statistics` (source='batch').

The same analytics library as the live engine, on a longer, gap-aware window of
bars, so the batch row is the reference the live numbers are checked against.
"""

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource

BAR_INTERVAL = "1m"
# A minute without trades carries the last close forward; longer gaps stay missing
# rather than faking a flat, perfectly correlated price.
FFILL_LIMIT_BARS = 60

_CLOSES_SQL = """
SELECT bucket, symbol, close FROM ohlcv
WHERE interval = %(interval)s AND symbol = ANY(%(symbols)s)
  AND bucket >= %(now)s - make_interval(mins => %(minutes)s) AND bucket < %(now)s
ORDER BY bucket
"""

_INSERT_SQL = """
INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, bar_interval,
    window_size, hedge_ratio, intercept, spread_mean, spread_std, zscore, correlation,
    adf_stat, adf_pvalue, eg_stat, eg_pvalue, half_life, n_obs)
VALUES (%(time)s, %(symbol_y)s, %(symbol_x)s, 'batch', %(method)s, %(bar_interval)s,
    %(window_size)s, %(hedge_ratio)s, %(intercept)s, %(spread_mean)s, %(spread_std)s,
    %(zscore)s, %(correlation)s, %(adf_stat)s, %(adf_pvalue)s, %(eg_stat)s, %(eg_pvalue)s,
    %(half_life)s, %(n_obs)s)
ON CONFLICT ON CONSTRAINT pair_statistics_key DO NOTHING
"""


class PairStatisticsConfig(Config):
    """Run-time knobs (the lookback itself is QP_STATS_LOOKBACK_MINUTES)."""

    zscore_window: int | None = None  # bars; None: z-score against the whole lookback
    min_obs: int = 30


def configured_pairs(platform: PlatformSettingsResource) -> list[tuple[str, str]]:
    """Configured pairs, else every pair of the configured symbols (as the daemon does)."""
    return platform.pair_list() or list(itertools.combinations(platform.symbols, 2))


def load_closes(
    conn: psycopg.Connection, symbols: list[str], now: datetime, minutes: int
) -> pd.DataFrame:
    """1m closes on a complete minute clock, one column per symbol, short gaps filled."""
    rows = conn.execute(
        _CLOSES_SQL, {"interval": BAR_INTERVAL, "symbols": symbols, "now": now, "minutes": minutes}
    ).fetchall()
    if not rows:
        return pd.DataFrame(columns=symbols, dtype=float)
    frame = pd.DataFrame(rows, columns=["bucket", "symbol", "close"])
    wide = frame.pivot(index="bucket", columns="symbol", values="close").reindex(columns=symbols)
    wide.index = pd.DatetimeIndex(wide.index).tz_convert(UTC)
    clock = pd.date_range(wide.index.min(), wide.index.max(), freq="1min")
    return wide.reindex(clock).ffill(limit=FFILL_LIMIT_BARS).astype(float)


def _finite(v: float) -> float | None:
    """NaN is 'not computed' (NULL); +/-inf (e.g. no mean reversion) is stored as is."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def compute_pair_row(
    closes: pd.DataFrame, y: str, x: str, config: PairStatisticsConfig
) -> dict[str, object]:
    """Statistics of y ~ x on log closes; raises AnalyticsError when the data can't support them."""
    from quant_platform import analytics  # statsmodels: loaded only by runs that need it

    pair = closes[[y, x]].dropna()
    yv, xv = pair[y].to_numpy(), pair[x].to_numpy()
    zw = config.zscore_window
    m = analytics.pair_metrics(
        yv, xv, log=True, zscore_window=min(zw, yv.size) if zw else None, min_obs=config.min_obs
    )
    eg = analytics.engle_granger(np.log(yv), np.log(xv))
    return {
        "symbol_y": y,
        "symbol_x": x,
        "method": m.method,
        "bar_interval": BAR_INTERVAL,
        "hedge_ratio": m.hedge_ratio,
        "intercept": m.intercept,
        "spread_mean": m.spread_mean,
        "spread_std": m.spread_std,
        "zscore": _finite(m.zscore),
        "correlation": _finite(m.correlation),
        "adf_stat": _finite(m.adf_stat),
        "adf_pvalue": _finite(m.adf_pvalue),
        "eg_stat": _finite(eg.stat),
        "eg_pvalue": _finite(eg.pvalue),
        "half_life": _finite(m.half_life),
        "n_obs": m.n_obs,
    }


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))


@asset(
    group_name="pair_statistics",
    kinds={"timescaledb", "python"},
    deps=[ohlcv],
    description=(
        "Per configured pair over the last QP_STATS_LOOKBACK_MINUTES of 1m closes: OLS hedge "
        "ratio on log prices, spread mean/std, latest z-score, ADF and Engle-Granger "
        "statistics/p-values, half-life (bars), return correlation. Appended to "
        "`pair_statistics` with source='batch'. Every 5 min and after closed bars change."
    ),
    metadata={"table": "pair_statistics", "source": "batch"},
    check_specs=[
        AssetCheckSpec(
            "pairs_written",
            asset="pair_statistics",
            description=(
                "Fails (error) when a run wrote no pair at all; warns when some pairs "
                "were skipped (too few aligned bars). Evaluated by every run."
            ),
        )
    ],
)
def pair_statistics(
    context: AssetExecutionContext,
    config: PairStatisticsConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> MaterializeResult:
    from quant_platform.analytics import AnalyticsError

    pairs = configured_pairs(platform)
    symbols = sorted({s for p in pairs for s in p})
    now = datetime.now(UTC)
    minutes = platform.stats_lookback_minutes
    rows: list[dict[str, object]] = []
    skipped: dict[str, str] = {}
    with timescale.connect() as conn:
        closes = load_closes(conn, symbols, now, minutes)
        for y, x in pairs:
            try:
                row = compute_pair_row(closes, y, x, config)
            except (AnalyticsError, KeyError, np.linalg.LinAlgError) as exc:
                skipped[f"{y}/{x}"] = str(exc)
                context.log.warning("pair %s/%s skipped: %s", y, x, exc)
                continue
            rows.append({**row, "time": now, "window_size": minutes})
        if rows:
            conn.cursor().executemany(_INSERT_SQL, rows)
    cols = ["symbol_y", "symbol_x", "hedge_ratio", "zscore", "eg_pvalue", "half_life", "n_obs"]
    table = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    table += "".join("| " + " | ".join(_fmt(r[c]) for c in cols) + " |\n" for r in rows)
    warning = (
        f"{len(skipped)} of {len(pairs)} pairs skipped: "
        + "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items()))
        if skipped
        else ""
    )
    check = AssetCheckResult(
        check_name="pairs_written",
        passed=bool(rows) and not skipped,
        severity=AssetCheckSeverity.ERROR if not rows else AssetCheckSeverity.WARN,
        metadata={"pairs_written": len(rows), "pairs_skipped": len(skipped), "warning": warning},
        description=warning or f"all {len(rows)} pairs written",
    )
    extra = {"warning": MetadataValue.text(warning)} if warning else {}
    return MaterializeResult(
        check_results=[check],
        metadata={
            **extra,
            "computed_at": MetadataValue.timestamp(now),
            "pairs_written": len(rows),
            "pairs_skipped": MetadataValue.json(skipped),
            "lookback_minutes": minutes,
            "bars": len(closes),
            "summary": MetadataValue.md(table),
            "dagster/row_count": len(rows),
        },
    )
