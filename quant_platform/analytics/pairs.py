"""Everything the platform shows for one pair / one symbol, in one call.

Shared by the live engine (every few seconds on the latest window) and the
Dagster statistics asset (on stored bars), so both report identical numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.tsa.adfvalues import mackinnonp

from quant_platform.analytics.correlation import correlation
from quant_platform.analytics.errors import (
    AnalyticsError,
    ArrayLike,
    as_1d,
    check_window,
    same_length,
)
from quant_platform.analytics.execution import trade_imbalance, trend, volatility_regime, vwap
from quant_platform.analytics.regression import HedgeMethod, hedge_ratio
from quant_platform.analytics.stationarity import adf, half_life

__all__ = ["PairMetrics", "SymbolMetrics", "pair_metrics", "symbol_metrics"]


@dataclass(frozen=True, slots=True)
class PairMetrics:
    """Snapshot of a pair y ~ alpha + beta x (log prices unless ``log=False``)."""

    hedge_ratio: float  # beta
    intercept: float  # alpha
    spread_last: float
    spread_mean: float
    spread_std: float  # sample std (ddof=1) of the spread over the window
    zscore: float  # (spread_last - mean) / std over `zscore_window` (NaN if std 0)
    correlation: float  # Pearson of returns (log returns when log=True)
    adf_stat: float  # ADF (constant, autolag) on the spread
    adf_pvalue: float  # Dickey-Fuller table: optimistic since beta was estimated
    coint_pvalue: float  # same residual test against Engle-Granger (N=2) tables: use this
    adf_lag: int
    half_life: float  # observations; inf if not mean-reverting
    n_obs: int
    method: str


@dataclass(frozen=True, slots=True)
class SymbolMetrics:
    last_price: float
    vwap: float  # over all trades given
    imbalance: float  # aggressor (buy - sell) / total quantity over all trades given
    vol_regime: str  # "low" | "normal" | "high"
    vol_percentile: float
    realized_vol: float  # std of log returns per observation over the short window
    trend_direction: int
    trend_slope: float  # log-price units per observation
    trend_pvalue: float
    n_trades: int


def _clean_pair(
    y: np.ndarray, x: np.ndarray, window: int | None, log: bool
) -> tuple[np.ndarray, np.ndarray]:
    same_length(y, x, "y_prices, x_prices")
    if window is not None:
        w = check_window(window)
        y, x = y[-w:], x[-w:]
    ok = np.isfinite(y) & np.isfinite(x)  # aligned bars: leading/gap NaNs are dropped
    y, x = y[ok], x[ok]
    if log:
        if (y <= 0).any() or (x <= 0).any():
            raise AnalyticsError("log=True needs positive prices")
        y, x = np.log(y), np.log(x)
    return y, x


def pair_metrics(
    y_prices: ArrayLike,
    x_prices: ArrayLike,
    window: int | None = None,
    log: bool = True,
    zscore_window: int | None = None,
    adf_autolag: str | None = "AIC",
    method: HedgeMethod = "ols",
    min_obs: int = 30,
    holdout: int = 0,
) -> PairMetrics:
    """Hedge, spread, z-score, correlation, stationarity and half-life of one pair.

    Uses the last `window` points (all if None) of two series on a common clock
    (see :func:`align_bars`); rows where either is NaN are dropped. With
    ``log=True`` the hedge is fitted on log prices, so beta is a return ratio and
    the spread is in log (~ percentage) units. The z-score compares the last
    spread value with the mean/std of the last `zscore_window` spread values
    (the whole window if None); the spread uses beta from the whole window, so it
    contains look-ahead within the window (fine for monitoring, not backtests).
    `adf_pvalue` uses Dickey-Fuller tables; since beta is estimated, the
    correct null distribution is Engle-Granger's: `coint_pvalue` (exact for
    method="ols", as statsmodels' coint).

    `holdout > 0` makes the newest `holdout` points out of sample: beta and the
    z-score's mean/std come from the points before them, so a fresh dislocation
    shows at full size instead of being absorbed by the fit (the live engine
    holds out one analytics interval).

    Raises:
        AnalyticsError: fewer than `min_obs` usable points remain, or a leg is constant.
    """
    y, x = _clean_pair(as_1d(y_prices, "y_prices"), as_1d(x_prices, "x_prices"), window, log)
    n = y.size
    if n < max(min_obs, 10):
        raise AnalyticsError(
            f"pair_metrics needs >= {max(min_obs, 10)} aligned finite points, got {n}"
        )
    for name, v in (("y_prices", y), ("x_prices", x)):
        if v.max() == v.min():
            raise AnalyticsError(f"{name}: constant over the window, no pair statistics")
    if holdout < 0 or n - holdout < max(min_obs, 10):
        raise AnalyticsError(
            f"holdout {holdout} leaves fewer than {max(min_obs, 10)} points to fit"
        )
    fit = n - holdout
    hr = hedge_ratio(y[:fit], x[:fit], method=method)
    s = y - hr.beta * x - hr.alpha
    if s.max() == s.min():
        raise AnalyticsError("spread is constant (legs perfectly collinear)")
    mean, std = float(s.mean()), float(s.std(ddof=1))
    if zscore_window is None:
        ref = s[:fit]
        zm, zs = float(ref.mean()), float(ref.std(ddof=1))
    else:
        zw = check_window(zscore_window, "zscore_window")
        if zw < 2 or zw > n:
            raise AnalyticsError(f"zscore_window must be in [2, {n}], got {zw}")
        if zw > fit:
            raise AnalyticsError(f"zscore_window must be in [2, {fit}], got {zw}")
        tail = s[fit - zw : fit]
        zm, zs = float(tail.mean()), float(tail.std(ddof=1))
    z = (float(s[-1]) - zm) / zs if zs > 0 else math.nan
    corr = float(correlation(np.diff(y), np.diff(x), on_returns=False))
    res = adf(s, regression="c", autolag=adf_autolag)
    eg = adf(s - mean, regression="n", autolag=adf_autolag)
    return PairMetrics(
        hedge_ratio=hr.beta,
        intercept=hr.alpha,
        spread_last=float(s[-1]),
        spread_mean=mean,
        spread_std=std,
        zscore=z,
        correlation=corr,
        adf_stat=res.stat,
        adf_pvalue=res.pvalue,
        coint_pvalue=float(mackinnonp(eg.stat, regression="c", N=2)),
        adf_lag=res.usedlag,
        half_life=half_life(s),
        n_obs=n,
        method=method,
    )


def symbol_metrics(
    prices: ArrayLike,
    qtys: ArrayLike,
    buyer_is_maker: ArrayLike,
    vol_short_window: int = 60,
    vol_history_window: int = 600,
    trend_window: int = 300,
) -> SymbolMetrics:
    """Execution view of one symbol from its recent trades (or bars + volumes).

    VWAP and aggressor imbalance over everything given; vol regime of log returns
    (see :func:`volatility_regime`); trend of log prices over the last
    `trend_window` observations (see :func:`trend`). Needs
    max(vol_short_window + vol_history_window, trend_window) observations, else
    AnalyticsError naming the shortfall. Tick-level returns include bid-ask
    bounce; pass bar prices when the regime should reflect price moves only.

    Raises:
        AnalyticsError: non-finite or non-positive prices, or fewer observations than
            the volatility and trend windows need.
    """
    p = as_1d(prices, "prices")
    need = max(vol_short_window + vol_history_window, trend_window)
    if p.size < need:
        raise AnalyticsError(
            f"symbol_metrics needs >= {need} observations "
            f"(vol {vol_short_window}+{vol_history_window}, trend {trend_window}), got {p.size}"
        )
    if not np.isfinite(p).all() or (p <= 0).any():
        raise AnalyticsError("prices: need finite positive values")
    regime = volatility_regime(p, vol_short_window, vol_history_window)
    tr = trend(np.log(p), trend_window)
    return SymbolMetrics(
        last_price=float(p[-1]),
        vwap=float(vwap(p, qtys)[-1]),
        imbalance=float(trade_imbalance(qtys, buyer_is_maker)[-1]),
        vol_regime=regime.label,
        vol_percentile=regime.percentile,
        realized_vol=regime.current_vol,
        trend_direction=tr.direction,
        trend_slope=tr.slope,
        trend_pvalue=tr.pvalue,
        n_trades=int(p.size),
    )
