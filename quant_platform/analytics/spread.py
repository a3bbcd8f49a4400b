"""Spread of a hedged pair and its rolling z-score."""

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
from quant_platform.analytics.rolling import rolling_mean_std

__all__ = ["spread", "zscore"]


def spread(
    y: ArrayLike, x: ArrayLike, beta: float | ArrayLike, alpha: float | ArrayLike = 0.0
) -> np.ndarray:
    """s_t = y_t - beta x_t - alpha: the residual of the hedge, what a pair trade holds.

    `beta`/`alpha` may be scalars (static hedge) or arrays (rolling/Kalman hedge, same
    length as y). Use log prices for y and x so beta is a ratio of returns.

    Raises:
        AnalyticsError: different lengths, or a beta/alpha of the wrong shape.
    """
    ya, xa = as_1d(y, "y"), as_1d(x, "x")
    same_length(ya, xa, "y, x")
    b = np.asarray(beta, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    for name, v in (("beta", b), ("alpha", a)):
        if v.ndim not in (0, 1) or (v.ndim == 1 and v.size != ya.size):
            raise AnalyticsError(
                f"{name}: scalar or length {ya.size} expected, got shape {v.shape}"
            )
    return wrap_like(ya - b * xa - a, y)


def zscore(series: ArrayLike, window: int, ddof: int = 1) -> np.ndarray:
    """Rolling z = (s_t - mean) / std over the trailing `window` points including s_t.

    O(n) and cancellation-safe (see :mod:`.rolling`). NaN for the first window-1
    points, for windows with a NaN/inf, and for constant windows (std 0: no scale,
    not an infinite signal). Sample std (ddof=1), as pandas ``rolling().std()``.

    Raises:
        AnalyticsError: a window < 2.
    """
    w = check_window(window)
    if w < 2:
        raise AnalyticsError("zscore window must be >= 2")
    s = as_1d(series, "series")
    mean, std = rolling_mean_std(s, w, ddof)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (s - mean) / np.where(std > 0, std, 1.0), np.nan)
    return wrap_like(z, series)
