"""Pure analytics for stat-arb on Binance USD-M futures: arrays in, numbers out, no I/O.

Modules: ``regression`` (hedge ratios), ``spread`` (spread, z-score), ``stationarity``
(ADF, Engle-Granger, half-life), ``correlation``, ``execution`` (VWAP, imbalance,
vol regime, trend), ``alignment`` (common clock), ``rolling`` (O(n) moments) and
``pairs`` (one call per pair/symbol for the live engine and Dagster). Degenerate
input raises :class:`AnalyticsError` (a ``ValueError``) or yields a documented NaN.
"""

from quant_platform.analytics.alignment import align_bars
from quant_platform.analytics.correlation import correlation, log_returns
from quant_platform.analytics.errors import AnalyticsError
from quant_platform.analytics.execution import (
    Trend,
    VolRegime,
    trade_imbalance,
    trend,
    volatility_regime,
    vwap,
)
from quant_platform.analytics.pairs import PairMetrics, SymbolMetrics, pair_metrics, symbol_metrics
from quant_platform.analytics.regression import (
    HedgeRatio,
    KalmanHedge,
    RollingHedge,
    hedge_ratio,
    kalman_hedge_ratio,
    rolling_hedge_ratio,
)
from quant_platform.analytics.rolling import (
    rolling_corr,
    rolling_cov,
    rolling_mean,
    rolling_std,
    rolling_sum,
    rolling_var,
)
from quant_platform.analytics.spread import spread, zscore
from quant_platform.analytics.stationarity import (
    AdfResult,
    EngleGrangerResult,
    adf,
    engle_granger,
    half_life,
)

__all__ = [
    "AdfResult",
    "AnalyticsError",
    "EngleGrangerResult",
    "HedgeRatio",
    "KalmanHedge",
    "PairMetrics",
    "RollingHedge",
    "SymbolMetrics",
    "Trend",
    "VolRegime",
    "adf",
    "align_bars",
    "correlation",
    "engle_granger",
    "half_life",
    "hedge_ratio",
    "kalman_hedge_ratio",
    "log_returns",
    "pair_metrics",
    "rolling_corr",
    "rolling_cov",
    "rolling_hedge_ratio",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
    "spread",
    "symbol_metrics",
    "trade_imbalance",
    "trend",
    "volatility_regime",
    "vwap",
    "zscore",
]
