"""Pearson correlation of two price series, full-sample or rolling."""

from __future__ import annotations

import numpy as np

from quant_platform.analytics.errors import (
    AnalyticsError,
    ArrayLike,
    as_1d,
    check_window,
    same_length,
    wrap_like,
)
from quant_platform.analytics.rolling import rolling_corr

__all__ = ["correlation", "log_returns"]


def log_returns(prices: ArrayLike, name: str = "prices") -> np.ndarray:
    """r_t = ln p_t - ln p_{t-1}, same length as prices with r_0 = NaN (keeps alignment).

    Raises:
        AnalyticsError: non-numeric or non-positive prices.
    """
    p = as_1d(prices, name)
    with np.errstate(invalid="ignore", divide="ignore"):
        if np.any(p[np.isfinite(p)] <= 0):
            raise AnalyticsError(f"{name}: log returns need positive prices")
        lp = np.log(p)
    out = np.empty_like(lp)
    out[:1] = np.nan
    np.subtract(lp[1:], lp[:-1], out=out[1:])
    return out


def correlation(
    a: ArrayLike, b: ArrayLike, window: int | None = None, on_returns: bool = True
) -> float | np.ndarray:
    """Pearson correlation, of log returns by default.

    Price levels of two trending assets correlate spuriously (Granger & Newbold
    1974), so ``on_returns=True`` correlates r_t = diff(ln p) instead; pass
    ``on_returns=False`` for series that are already returns or spreads.
    ``window=None``: one number over all points where both are finite (NaN if
    either is constant, AnalyticsError if fewer than 3 such points).
    ``window=w``: rolling O(n) array aligned with the input (NaN until w returns
    exist, and for windows with a NaN/inf or a constant side).

    Raises:
        AnalyticsError: different lengths, fewer than 3 finite pairs, or a window < 2.
    """
    xa, ya = as_1d(a, "a"), as_1d(b, "b")
    same_length(xa, ya, "a, b")
    if on_returns:
        xa, ya = log_returns(xa, "a"), log_returns(ya, "b")
    if window is not None:
        w = check_window(window)
        if w < 2:
            raise AnalyticsError("correlation window must be >= 2")
        return wrap_like(rolling_corr(xa, ya, w), a)
    ok = np.isfinite(xa) & np.isfinite(ya)
    if ok.sum() < 3:
        raise AnalyticsError(f"correlation needs >= 3 finite pairs, got {int(ok.sum())}")
    dx, dy = xa[ok] - xa[ok].mean(), ya[ok] - ya[ok].mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx == 0.0 or syy == 0.0:
        return float("nan")
    return float(np.clip(float(dx @ dy) / np.sqrt(sxx * syy), -1.0, 1.0))
