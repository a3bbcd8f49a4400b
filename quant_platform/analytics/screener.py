"""Pair screener: every pair of a universe, with false-discovery control. Pure: frames in, rows out.

With n symbols there are n(n-1)/2 cointegration tests, so a 5 % cut on raw
p-values "finds" about 5 % of the null pairs by chance (39 of 780 for 40
symbols). Each pair gets one p-value (the Engle-Granger test in both
directions, Bonferroni-combined: ``min(1, 2 min(p_yx, p_xy))``, valid whichever
direction is the true one), then Benjamini-Hochberg (1995) adjusts them across
the universe: a q-value cut at 0.05 keeps the expected share of false
discoveries among those reported at or below 5 %. The default ranking is by q.

Per pair (log prices, common clock, both series present):

* ``eg_pvalue_yx`` / ``eg_pvalue_xy``: augmented Engle-Granger, equal to
  ``statsmodels.tsa.stattools.coint(..., autolag="bic")`` (``analytics.stationarity``;
  BIC because AIC's longer lags make the test liberal in short samples);
* ``johansen_trace`` (r = 0, constant, one lagged difference) and its 95 %
  critical value: symmetric in the pair, so it speaks when the two EG
  directions disagree;
* ``hedge_ratio`` of the better direction (symbol_y is its dependent) and its
  stability: the coefficient of variation of the OLS slope over
  ``subwindows`` contiguous sub-windows (large: the relation drifts);
* ``half_life`` of the spread (bars and seconds), its Hurst exponent (lagged
  differences: 0.5 random walk, < 0.5 mean-reverting), the number of mean
  crossings;
* ``return_correlation`` of log returns;
* ``liquidity``: the thinner symbol's median quote volume per bar. Symbols
  below ``min_quote_volume`` are excluded before testing (fewer tests, more power).

References: Engle & Granger (1987); Johansen (1991); Benjamini & Hochberg
(1995), J. R. Stat. Soc. B 57(1); Hurst (1951).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from quant_platform.analytics.errors import AnalyticsError
from quant_platform.analytics.stationarity import engle_granger, half_life

__all__ = [
    "PairScreen",
    "ScreenConfig",
    "ScreenPlan",
    "ScreenResult",
    "bh_qvalues",
    "hedge_stability",
    "hurst_exponent",
    "mean_crossings",
    "plan_screen",
    "rank_screen",
    "screen_pair_list",
    "screen_pairs",
]


@dataclass(frozen=True)
class ScreenConfig:
    """Knobs of one screen; the defaults suit 1m bars over days."""

    min_obs: int = 100
    min_quote_volume: float = 0.0
    subwindows: int = 4
    hurst_max_lag: int = 100
    bar_seconds: float = 60.0
    johansen: bool = True
    # BIC, not coint's default AIC: AIC picks long lags that make the EG test liberal in
    # short samples (size 6.9 % at a nominal 5 % on 200 bars, measured), which BH inherits.
    autolag: str | None = "bic"
    maxlag: int | None = None


@dataclass(frozen=True)
class PairScreen:
    """One screened pair; `symbol_y ~ symbol_x` is the direction with the smaller EG p-value."""

    symbol_y: str
    symbol_x: str
    n_obs: int
    pvalue: float
    qvalue: float
    eg_pvalue_yx: float
    eg_pvalue_xy: float
    eg_stat: float
    johansen_trace: float
    johansen_crit_95: float
    hedge_ratio: float
    hedge_ratio_cv: float
    half_life_bars: float
    half_life_s: float
    hurst: float
    mean_crossings: int
    return_correlation: float
    liquidity: float
    rank: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ScreenResult:
    """Ranked pairs (by q, then p) and the symbols left out, with why."""

    pairs: list[PairScreen]
    excluded: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        cols = list(PairScreen.__dataclass_fields__)
        return pd.DataFrame([p.as_dict() for p in self.pairs], columns=cols)

    def discoveries(self, q: float = 0.05) -> list[PairScreen]:
        return [p for p in self.pairs if p.qvalue <= q]


def bh_qvalues(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); scipy's implementation."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.size == 0:
        return p
    return false_discovery_control(np.clip(p, 0.0, 1.0), method="bh")


def hurst_exponent(series: np.ndarray, max_lag: int = 100) -> float:
    """Hurst exponent from the scaling of lagged differences: std(s[t+k] - s[t]) ~ k^H.

    Fitted by least squares on log-log over ~20 log-spaced lags in [2, max_lag].
    0.5: random walk; < 0.5: mean-reverting; > 0.5: trending. NaN when the
    series is too short (< 2 max_lag points are needed for 20 useful lags it is
    capped to n // 2) or constant.
    """
    s = np.asarray(series, dtype=np.float64)
    max_lag = min(max_lag, s.size // 2)
    if max_lag < 4:
        return math.nan
    lags = np.unique(np.geomspace(2, max_lag, num=20).astype(int))
    tau = np.array([np.std(s[k:] - s[:-k]) for k in lags])
    if np.any(tau <= 0):
        return math.nan
    slope = np.polyfit(np.log(lags), np.log(tau), 1)[0]
    return float(slope)


def mean_crossings(series: np.ndarray) -> int:
    """How often the series crosses its mean (sign changes of the demeaned series, zeros skip)."""
    d = np.asarray(series, dtype=np.float64)
    d = d - d.mean()
    sign = np.sign(d[d != 0])
    return int(np.count_nonzero(sign[1:] != sign[:-1]))


def hedge_stability(y: np.ndarray, x: np.ndarray, subwindows: int) -> float:
    """Coefficient of variation of the OLS slope of y on x over contiguous sub-windows.

    std(beta_i, ddof=1) / |mean(beta_i)|; NaN with fewer than 2 sub-windows of 10+ points.
    """
    n = y.size
    if subwindows < 2 or n // subwindows < 10:
        return math.nan
    edges = np.linspace(0, n, subwindows + 1).astype(int)
    betas = []
    for a, b in itertools.pairwise(edges):
        xs, ys = x[a:b] - x[a:b].mean(), y[a:b] - y[a:b].mean()
        den = float(xs @ xs)
        if den > 0:
            betas.append(float(xs @ ys) / den)
    if len(betas) < 2:
        return math.nan
    mean = float(np.mean(betas))
    return float(np.std(betas, ddof=1) / abs(mean)) if mean != 0 else math.inf


def _johansen(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    from statsmodels.tsa.vector_ar.vecm import coint_johansen

    res = coint_johansen(np.column_stack([y, x]), det_order=0, k_ar_diff=1)
    return float(res.lr1[0]), float(res.cvt[0, 1])


def _screen_one(
    a: str, b: str, ya: np.ndarray, yb: np.ndarray, liquidity: float, cfg: ScreenConfig
) -> PairScreen:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ab = engle_granger(ya, yb, maxlag=cfg.maxlag, autolag=cfg.autolag)
        ba = engle_granger(yb, ya, maxlag=cfg.maxlag, autolag=cfg.autolag)
    if ab.pvalue <= ba.pvalue:
        sy, sx, eg, yv, xv = a, b, ab, ya, yb
    else:
        sy, sx, eg, yv, xv = b, a, ba, yb, ya
    spread = yv - eg.alpha - eg.beta * xv
    hl = half_life(spread)
    jt, jc = _johansen(ya, yb) if cfg.johansen else (math.nan, math.nan)
    ra, rb = np.diff(ya), np.diff(yb)
    corr = float(np.corrcoef(ra, rb)[0, 1]) if ra.std() > 0 and rb.std() > 0 else math.nan
    return PairScreen(
        symbol_y=sy,
        symbol_x=sx,
        n_obs=int(yv.size),
        pvalue=min(1.0, 2.0 * min(ab.pvalue, ba.pvalue)),
        qvalue=math.nan,
        eg_pvalue_yx=float(eg.pvalue),
        eg_pvalue_xy=float(max(ab.pvalue, ba.pvalue)),
        eg_stat=float(eg.stat),
        johansen_trace=jt,
        johansen_crit_95=jc,
        hedge_ratio=float(eg.beta),
        hedge_ratio_cv=hedge_stability(yv, xv, cfg.subwindows),
        half_life_bars=hl,
        half_life_s=hl * cfg.bar_seconds,
        hurst=hurst_exponent(spread, cfg.hurst_max_lag),
        mean_crossings=mean_crossings(spread),
        return_correlation=corr,
        liquidity=liquidity,
    )


def screen_pairs(
    log_prices: pd.DataFrame,
    quote_volume: pd.DataFrame | None = None,
    config: ScreenConfig | None = None,
) -> ScreenResult:
    """Screen every pair of the columns of `log_prices` (one column per symbol, common clock).

    `quote_volume` (same shape) gives each symbol's median quote volume per bar;
    symbols below `config.min_quote_volume`, or with fewer than `min_obs` prices,
    are excluded before any test. A pair whose statistics can't be computed
    (too little overlap, constant) is listed in `failed`, not ranked.
    `eg_pvalue_yx` is the chosen direction's p-value, `eg_pvalue_xy` the other's.
    The same as `plan_screen` + `screen_pair_list` per part + `rank_screen`, which
    is how the Dagster fan-out splits one screen over several workers.

    Raises:
        AnalyticsError: `log_prices` holds non-finite values other than NaN.
    """
    plan = plan_screen(log_prices, quote_volume, config)
    rows, failed = screen_pair_list(log_prices, plan, plan.pairs)
    return rank_screen(rows, plan.excluded, failed)


@dataclass(frozen=True)
class ScreenPlan:
    """What a screen will test: the pairs of the kept symbols, each symbol's liquidity."""

    pairs: list[tuple[str, str]]
    liquidity: dict[str, float]
    excluded: dict[str, str]
    config: ScreenConfig


def plan_screen(
    log_prices: pd.DataFrame,
    quote_volume: pd.DataFrame | None = None,
    config: ScreenConfig | None = None,
) -> ScreenPlan:
    """Liquidity and exclusions per symbol, and the pairs left to test (in column order).

    Raises:
        AnalyticsError: `log_prices` holds non-finite values other than NaN.
    """
    cfg = config or ScreenConfig()
    values = log_prices.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        raise AnalyticsError("log_prices: infinite values (log of zero price?)")
    symbols = [str(c) for c in log_prices.columns]
    liq: dict[str, float] = {}
    for s in symbols:
        if quote_volume is not None and s in quote_volume:
            v = quote_volume[s].dropna()
            liq[s] = float(v.median()) if v.size else 0.0
        else:
            liq[s] = math.nan
    excluded: dict[str, str] = {}
    for i, s in enumerate(symbols):
        n = int(np.count_nonzero(~np.isnan(values[:, i])))
        if n < cfg.min_obs:
            excluded[s] = f"{n} bars < min_obs {cfg.min_obs}"
        elif cfg.min_quote_volume > 0 and not liq[s] >= cfg.min_quote_volume:
            excluded[s] = f"median quote volume {liq[s]:.4g} < floor {cfg.min_quote_volume:.4g}"
    kept = [s for s in symbols if s not in excluded]
    return ScreenPlan(list(itertools.combinations(kept, 2)), liq, excluded, cfg)


def screen_pair_list(
    log_prices: pd.DataFrame, plan: ScreenPlan, pairs: list[tuple[str, str]]
) -> tuple[list[PairScreen], dict[str, str]]:
    """Unranked statistics of `pairs` (a part of `plan.pairs`), and the pairs that failed.

    Raises:
        KeyError: a pair names a column `log_prices` does not have.
    """
    cfg = plan.config
    rows: list[PairScreen] = []
    failed: dict[str, str] = {}
    for a, b in pairs:
        va = log_prices[a].to_numpy(dtype=np.float64)
        vb = log_prices[b].to_numpy(dtype=np.float64)
        ok = ~(np.isnan(va) | np.isnan(vb))
        if int(ok.sum()) < cfg.min_obs:
            failed[f"{a}/{b}"] = f"{int(ok.sum())} common bars < min_obs {cfg.min_obs}"
            continue
        liq = min(plan.liquidity[a], plan.liquidity[b])
        try:
            rows.append(_screen_one(a, b, va[ok], vb[ok], liq, cfg))
        except (AnalyticsError, np.linalg.LinAlgError, ValueError) as exc:
            failed[f"{a}/{b}"] = str(exc)
    return rows, failed


def rank_screen(
    rows: list[PairScreen], excluded: dict[str, str], failed: dict[str, str]
) -> ScreenResult:
    """BH q-values across all `rows` (the whole universe), ranked by q, then p, then |stat|."""
    q = bh_qvalues(np.array([r.pvalue for r in rows]))
    ranked = sorted(
        (_with(r, qvalue=float(qv)) for r, qv in zip(rows, q, strict=True)),
        key=lambda r: (r.qvalue, r.pvalue, -abs(r.eg_stat)),
    )
    ranked = [_with(r, rank=k) for k, r in enumerate(ranked, 1)]
    return ScreenResult(ranked, dict(excluded), dict(failed))


def _with(row: PairScreen, **changes: object) -> PairScreen:
    from dataclasses import replace

    return replace(row, **changes)
