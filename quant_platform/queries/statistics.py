"""Pair statistics: stored history (live and batch rows) and chart series derived from bars.

The derived series call the pure analytics library, so a chart shows exactly what
the live engine and Dagster compute; nothing statistical is re-implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import psycopg

from quant_platform import analytics
from quant_platform.config.settings import validate_symbol

STAT_COLUMNS = [
    "time",
    "source",
    "method",
    "bar_interval",
    "window_size",
    "hedge_ratio",
    "intercept",
    "spread_mean",
    "spread_std",
    "zscore",
    "correlation",
    "adf_stat",
    "adf_pvalue",
    "eg_stat",
    "eg_pvalue",
    "half_life",
    "n_obs",
]
SOURCES = ("live", "batch")

_HISTORY_SQL = """
SELECT time, source, method, bar_interval, window_size, hedge_ratio, intercept, spread_mean,
       spread_std, zscore, correlation, adf_stat, adf_pvalue, eg_stat, eg_pvalue, half_life, n_obs
FROM pair_statistics
WHERE symbol_y = %(y)s AND symbol_x = %(x)s AND source = ANY(%(sources)s)
  AND (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)
ORDER BY time DESC
LIMIT %(limit)s
"""


def pair_statistics_history(
    conn: psycopg.Connection,
    symbol_y: str,
    symbol_x: str,
    since: datetime | None = None,
    sources: tuple[str, ...] = SOURCES,
    limit: int = 5000,
) -> pd.DataFrame:
    """Stored statistics of one pair, oldest first (newest `limit` rows since `since`).

    Raises:
        ValueError: an unknown source.
    """
    bad = set(sources) - set(SOURCES)
    if bad:
        raise ValueError(f"unknown source(s) {sorted(bad)}: use {', '.join(SOURCES)}")
    params = {
        "y": validate_symbol(symbol_y),
        "x": validate_symbol(symbol_x),
        "sources": list(sources),
        "since": since,
        "limit": int(limit),
    }
    rows = conn.execute(_HISTORY_SQL, params).fetchall()
    df = pd.DataFrame(rows, columns=STAT_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    for c in STAT_COLUMNS[5:]:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return df.iloc[::-1].reset_index(drop=True)


def latest_pair_statistics(history: pd.DataFrame) -> dict[str, dict]:
    """Newest row per source ({} when the pair has no history)."""
    out: dict[str, dict] = {}
    for source, g in history.groupby("source"):
        out[str(source)] = g.iloc[-1].to_dict()
    return out


@dataclass(frozen=True)
class PairSeries:
    """What the pair panels plot, on the bars' common clock (index = bar start)."""

    frame: pd.DataFrame  # y, x closes, spread, zscore, rolling_beta, rolling_alpha, correlation
    hedge: analytics.HedgeRatio  # static OLS hedge over the shown window (log prices)
    coint_pvalue: float  # Engle-Granger on the shown window
    half_life_bars: float


def min_bars_for(window: int) -> int:
    """Bars needed before the rolling panels show anything useful."""
    return max(window + 2, 20)


def pair_series(closes: pd.DataFrame, symbol_y: str, symbol_x: str, window: int) -> PairSeries:
    """Spread, rolling z-score, rolling hedge ratio and rolling return correlation.

    Log prices (ratio-of-returns hedge, as the live engine). The spread uses one
    static OLS hedge over the shown window; the rolling hedge ratio shows how
    stable that hedge is.

    Raises:
        AnalyticsError: too little data for the window.
    """
    if len(closes) < min_bars_for(window):
        raise analytics.AnalyticsError(
            f"need at least {min_bars_for(window)} aligned bars for window {window}, "
            f"have {len(closes)}"
        )
    y = closes[symbol_y].to_numpy(dtype=np.float64)
    x = closes[symbol_x].to_numpy(dtype=np.float64)
    ly, lx = np.log(y), np.log(x)
    hedge = analytics.hedge_ratio(ly, lx)
    spr = np.asarray(analytics.spread(ly, lx, hedge.beta, hedge.alpha))
    z = analytics.zscore(spr, window)
    roll = analytics.rolling_hedge_ratio(ly, lx, window)
    corr = analytics.rolling_corr(analytics.log_returns(y), analytics.log_returns(x), window)
    try:
        coint_p = float(analytics.engle_granger(ly, lx).pvalue)
    except (analytics.AnalyticsError, np.linalg.LinAlgError):
        coint_p = math.nan
    try:
        hl = float(analytics.half_life(spr))
    except analytics.AnalyticsError:
        hl = math.nan
    frame = pd.DataFrame(
        {
            symbol_y: y,
            symbol_x: x,
            "spread": spr,
            "zscore": z,
            "rolling_beta": roll.beta,
            "rolling_alpha": roll.alpha,
            "correlation": corr,
        },
        index=closes.index,
    )
    return PairSeries(frame=frame, hedge=hedge, coint_pvalue=coint_p, half_life_bars=hl)


@dataclass(frozen=True)
class SymbolSeries:
    """Execution panels of one symbol: rolling VWAP, aggressor imbalance, realised vol."""

    frame: pd.DataFrame  # close, rolling_vwap, bar_imbalance, imbalance (rolling), realized_vol
    regime: analytics.VolRegime | None  # None when the history is too short


def symbol_series(bars: pd.DataFrame, window: int, vol_window: int = 20) -> SymbolSeries:
    """Per-bar execution analytics of one symbol's bars (oldest first).

    Bars stand in for trades: the bar VWAP (close when empty) weighted by bar
    volume gives the rolling VWAP; each bar's buy and sell volume become two
    pseudo-trades so `trade_imbalance` counts aggressor flow over `window` bars.
    """
    b = bars.sort_values("bucket")
    close = b["close"].to_numpy(dtype=np.float64)
    price = b["vwap"].fillna(b["close"]).to_numpy(dtype=np.float64)
    vol = b["volume"].fillna(0.0).to_numpy(dtype=np.float64)
    buy = np.clip(b["buy_volume"].fillna(0.0).to_numpy(dtype=np.float64), 0.0, vol)
    n = close.size
    w = max(1, min(window, n)) if n else 1
    frame = pd.DataFrame(index=pd.DatetimeIndex(b["bucket"], name="bucket"))
    frame["close"] = close
    frame["rolling_vwap"] = analytics.vwap(price, vol, window=w) if n else []
    if n:
        qty = np.column_stack([buy, vol - buy]).ravel()
        maker = np.tile([False, True], n)  # buyer-is-maker ⇒ the aggressor sold
        frame["bar_imbalance"] = analytics.trade_imbalance(qty, maker, window=2)[1::2]
        frame["imbalance"] = analytics.trade_imbalance(qty, maker, window=2 * w)[1::2]
        vw = min(vol_window, max(2, n - 2))
        frame["realized_vol"] = analytics.rolling_std(analytics.log_returns(close), vw)
    else:
        frame["bar_imbalance"] = []
        frame["imbalance"] = []
        frame["realized_vol"] = []
    regime = None
    n_ret = n - 1
    if n_ret >= 2 * vol_window:
        try:
            regime = analytics.volatility_regime(close, vol_window, n_ret - vol_window + 1)
        except analytics.AnalyticsError:
            regime = None
    return SymbolSeries(frame=frame, regime=regime)
