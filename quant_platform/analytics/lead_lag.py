"""Cross-asset views: the return correlation matrix, and lead-lag cross-correlation of a pair.

Pure functions over log prices on a common clock (one column per symbol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_platform.analytics.errors import AnalyticsError

__all__ = ["LeadLag", "correlation_matrix", "lead_lag"]


def correlation_matrix(log_prices: pd.DataFrame, min_periods: int = 30) -> pd.DataFrame:
    """Pearson correlation of log returns, pairwise over bars where both symbols traded."""
    return log_prices.diff().corr(min_periods=min_periods)


@dataclass(frozen=True)
class LeadLag:
    """corr(r_x[t], r_y[t + k]) for k in lags; `best_lag` > 0 means x leads y by that many bars.

    `band` is the 95 % band of a single cross-correlation under the null of
    no relation (white-noise returns, Bartlett: 1.96 / sqrt(n)); a best
    correlation inside it is no evidence of a lead at all.
    """

    lags: np.ndarray
    corr: np.ndarray
    best_lag: int
    best_corr: float
    band: float
    n_obs: int

    @property
    def significant(self) -> bool:
        return abs(self.best_corr) > self.band


def lead_lag(x_returns: np.ndarray, y_returns: np.ndarray, max_lag: int) -> LeadLag:
    """Cross-correlation of two return series over lags -max_lag..max_lag.

    Ties in |corr| go to the smallest |lag|. NaN pairs of observations are dropped
    per lag.

    Raises:
        AnalyticsError: different lengths, max_lag < 0, or too few observations
            (fewer than max_lag + 10).
    """
    x = np.asarray(x_returns, dtype=np.float64)
    y = np.asarray(y_returns, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise AnalyticsError(f"x, y: need 1-D series of equal length, got {x.shape}, {y.shape}")
    if max_lag < 0:
        raise AnalyticsError(f"max_lag must be >= 0, got {max_lag}")
    n = x.size
    if n < max_lag + 10:
        raise AnalyticsError(f"{n} observations are too few for lags up to {max_lag}")
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.full(lags.size, math.nan)
    for i, k in enumerate(lags):
        a, b = (x[: n - k], y[k:]) if k >= 0 else (x[-k:], y[: n + k])
        ok = ~(np.isnan(a) | np.isnan(b))
        a, b = a[ok], b[ok]
        if a.size > 2 and a.std() > 0 and b.std() > 0:
            corr[i] = float(np.corrcoef(a, b)[0, 1])
    if np.all(np.isnan(corr)):
        raise AnalyticsError("no lag has enough varying observations")
    score = np.where(np.isnan(corr), -1.0, np.abs(corr))
    best = max(range(lags.size), key=lambda i: (round(score[i], 12), -abs(lags[i])))
    n_eff = int(np.count_nonzero(~(np.isnan(x) | np.isnan(y))))
    return LeadLag(lags, corr, int(lags[best]), float(corr[best]), 1.96 / math.sqrt(n_eff), n_eff)
