"""Per-symbol execution statistics from trades: VWAP, order-flow imbalance, vol regime, trend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from quant_platform.analytics.correlation import log_returns
from quant_platform.analytics.errors import (
    AnalyticsError,
    ArrayLike,
    check_window,
    finite_1d,
    same_length,
    wrap_like,
)
from quant_platform.analytics.rolling import rolling_std, rolling_sum

__all__ = ["Trend", "VolRegime", "trade_imbalance", "trend", "volatility_regime", "vwap"]


@dataclass(frozen=True, slots=True)
class VolRegime:
    label: Literal["low", "normal", "high"]
    percentile: float  # % of the history's rolling vols <= current vol
    current_vol: float  # std of log returns over the short window, per observation
    median_vol: float  # median rolling vol over the history


@dataclass(frozen=True, slots=True)
class Trend:
    direction: int  # +1 / -1 when the slope is significant at `alpha`, else 0
    slope: float  # price units (or log units) per observation
    tstat: float
    pvalue: float
    n_obs: int


def _trades(price: ArrayLike, qty: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, q = finite_1d(price, "price", 1), finite_1d(qty, "qty", 1)
    same_length(p, q, "price, qty")
    if (q < 0).any():
        raise AnalyticsError("qty: negative quantities (sign goes in buyer_is_maker)")
    return p, q


def vwap(price: ArrayLike, qty: ArrayLike, window: int | None = None) -> np.ndarray:
    """Volume-weighted average price sum(p q) / sum(q), the execution benchmark.

    ``window=None``: cumulative (session) VWAP at every trade; ``window=w``: over the
    last w trades, O(n). Prices are taken relative to the first one before summing
    so large price levels keep their digits. NaN where the volume is zero.
    """
    p, q = _trades(price, qty)
    p0 = p[0]
    pq = (p - p0) * q
    if window is None:
        num, den = np.cumsum(pq), np.cumsum(q)
    else:
        w = check_window(window)
        num, den = rolling_sum(pq, w), rolling_sum(q, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0) + p0, np.nan)
    out[np.isnan(den)] = np.nan
    return wrap_like(out, price)


def trade_imbalance(
    qty: ArrayLike, buyer_is_maker: ArrayLike, window: int | None = None
) -> np.ndarray:
    """Aggressor imbalance (buy - sell) / (buy + sell) in [-1, 1], by traded quantity.

    Binance's ``buyer_is_maker=True`` means the resting order was the buy, so the
    aggressor SOLD: such trades count as sell volume. Aggressor flow leads short-term
    price moves (Cont, Kukanov & Stoikov 2014). ``window=None``: cumulative;
    ``window=w``: last w trades. NaN where the volume is zero.

    Raises:
        AnalyticsError: different lengths, negative or non-finite quantities.
    """
    q = finite_1d(qty, "qty", 1)
    bim = np.asarray(buyer_is_maker, dtype=bool)
    same_length(q, bim, "qty, buyer_is_maker")
    if (q < 0).any():
        raise AnalyticsError("qty: negative quantities")
    signed = np.where(bim, -q, q)
    if window is None:
        num, den = np.cumsum(signed), np.cumsum(q)
    else:
        w = check_window(window)
        num, den = rolling_sum(signed, w), rolling_sum(q, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    out[np.isnan(den)] = np.nan
    return wrap_like(np.clip(out, -1.0, 1.0), qty)


def volatility_regime(
    prices: ArrayLike,
    short_window: int,
    history_window: int,
    is_returns: bool = False,
    low_pct: float = 25.0,
    high_pct: float = 75.0,
) -> VolRegime:
    """Where current realised vol sits within its own recent distribution.

    Realised vol = std (ddof=1) of log returns over the last `short_window`
    observations; it is ranked against the `history_window` most recent rolling
    values of the same statistic (empirical percentile, "weak": share <= current).
    Label: "low" below `low_pct`, "high" above `high_pct`, else "normal". Vol
    clusters (Mandelbrot 1963; GARCH), so the regime persists and scales
    thresholds and sizes. Needs short_window + history_window returns; NaN/inf
    inputs raise AnalyticsError.

    Raises:
        AnalyticsError: a short window < 2, or fewer returns than both windows need.
    """
    sw, hw = (
        check_window(short_window, "short_window"),
        check_window(history_window, "history_window"),
    )
    if sw < 2:
        raise AnalyticsError("short_window must be >= 2")
    if is_returns:
        r = finite_1d(prices, "returns", 1)
    else:
        p = finite_1d(prices, "prices", 1)
        r = log_returns(p)[1:]
    need = sw + hw - 1
    if r.size < need:
        raise AnalyticsError(
            f"volatility_regime needs {need} returns (short {sw} + history {hw} - 1), got {r.size}"
        )
    vols = rolling_std(r[-need:], sw)[sw - 1 :]
    current = float(vols[-1])
    pct = float(100.0 * np.mean(vols <= current))
    label: Literal["low", "normal", "high"] = (
        "low" if pct < low_pct else "high" if pct > high_pct else "normal"
    )
    return VolRegime(
        label=label, percentile=pct, current_vol=current, median_vol=float(np.median(vols))
    )


def trend(prices: ArrayLike, window: int | None = None, alpha: float = 0.05) -> Trend:
    """Linear trend of the last `window` prices: p_t = a + b t + e_t by OLS.

    H0: b = 0, two-sided t-test with n-2 df. Caveat: price residuals are
    autocorrelated, so the OLS p-value overstates significance (Granger & Newbold
    1974); use it as a ranking/description, not a formal test. ``direction`` is
    sign(b) when p < alpha, else 0. Constant prices: slope 0, tstat/pvalue NaN,
    direction 0. Needs >= 3 finite points.

    Raises:
        AnalyticsError: a window < 3, or fewer prices than the window.
    """
    p = finite_1d(prices, "prices", 3)
    if window is not None:
        w = check_window(window)
        if w < 3:
            raise AnalyticsError("trend window must be >= 3")
        if p.size < w:
            raise AnalyticsError(f"trend needs {w} points, got {p.size}")
        p = p[-w:]
    n = p.size
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    dp = p - p.mean()
    stt = float(t @ t)
    slope = float(t @ dp) / stt
    resid = dp - slope * t
    ssr = float(resid @ resid)
    if ssr == 0.0 and slope == 0.0:
        return Trend(direction=0, slope=0.0, tstat=math.nan, pvalue=math.nan, n_obs=n)
    se = math.sqrt(ssr / (n - 2) / stt)
    tstat = slope / se if se > 0 else math.copysign(math.inf, slope)
    pvalue = float(2.0 * stats.t.sf(abs(tstat), n - 2))
    direction = int(np.sign(slope)) if pvalue < alpha else 0
    return Trend(direction=direction, slope=slope, tstat=float(tstat), pvalue=pvalue, n_obs=n)
