"""pair_metrics / symbol_metrics: consistent with the building blocks, clear errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from quant_platform.analytics import (
    AnalyticsError,
    PairMetrics,
    adf,
    engle_granger,
    hedge_ratio,
    pair_metrics,
    symbol_metrics,
)


def _cointegrated(n=3600, seed=0):
    rng = np.random.default_rng(seed)
    lx = np.log(60000) + np.cumsum(rng.normal(0, 1e-4, n))
    u = np.zeros(n)
    e = rng.normal(0, 5e-5, n)
    for t in range(1, n):
        u[t] = 0.97 * u[t - 1] + e[t]
    ly = -1.5 + 0.9 * lx + u
    return np.exp(ly), np.exp(lx)


def test_pair_metrics_consistent_with_parts():
    y, x = _cointegrated()
    m = pair_metrics(y, x)
    assert isinstance(m, PairMetrics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.zscore = 0.0  # type: ignore[misc]
    ly, lx = np.log(y), np.log(x)
    h = hedge_ratio(ly, lx)
    s = ly - h.beta * lx - h.alpha
    assert m.hedge_ratio == pytest.approx(0.9, abs=0.05) and m.hedge_ratio == h.beta
    assert m.zscore == pytest.approx((s[-1] - s.mean()) / s.std(ddof=1), rel=1e-9)
    assert m.adf_stat == pytest.approx(adf(s).stat, rel=1e-12)
    eg = engle_granger(ly, lx)
    assert m.coint_pvalue == pytest.approx(eg.pvalue, rel=1e-6, abs=1e-9)
    assert m.coint_pvalue < 0.05 and m.adf_pvalue < 0.05
    assert m.half_life == pytest.approx(-math.log(2) / math.log(0.97), rel=0.3)
    assert m.n_obs == 3600 and m.method == "ols"
    w = pair_metrics(y, x, window=1000, zscore_window=100)
    assert w.n_obs == 1000


def test_pair_metrics_drops_unaligned_rows_and_errors():
    y, x = _cointegrated(200, 1)
    y[:20] = np.nan  # symbol started trading later
    assert pair_metrics(y, x).n_obs == 180
    with pytest.raises(AnalyticsError, match="needs >= 30"):
        pair_metrics(y[:40], x[:40])
    with pytest.raises(AnalyticsError, match="constant"):
        pair_metrics(np.full(100, 5.0), x[:100])
    with pytest.raises(AnalyticsError, match="positive"):
        pair_metrics(-x, x)
    with pytest.raises(AnalyticsError, match="mismatch"):
        pair_metrics(y[:50], x)


def test_symbol_metrics():
    rng = np.random.default_rng(2)
    n = 1000
    p = 60000 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    q = rng.exponential(0.01, n)
    bim = rng.random(n) < 0.3
    m = symbol_metrics(p, q, bim)
    assert m.vwap == pytest.approx((p * q).sum() / q.sum(), rel=1e-12)
    assert m.imbalance == pytest.approx((q[~bim].sum() - q[bim].sum()) / q.sum(), rel=1e-12)
    assert m.vol_regime in ("low", "normal", "high") and m.n_trades == n
    with pytest.raises(AnalyticsError, match="needs >= 660"):
        symbol_metrics(p[:100], q[:100], bim[:100])


def test_holdout_shows_a_fresh_dislocation_at_full_size() -> None:
    """A 3 % jump in one leg on the newest points: in-sample fits absorb part of it."""
    import numpy as np

    from quant_platform.analytics import pair_metrics

    rng = np.random.default_rng(5)
    common = np.cumsum(rng.normal(0, 1e-4, 60))
    x = 3000 * np.exp(common + rng.normal(0, 2e-5, 60))
    y = 60000 * np.exp(common + rng.normal(0, 2e-5, 60))
    x[-3:] *= 1.03
    out = pair_metrics(y, x, holdout=3, zscore_window=40)
    inside = pair_metrics(y, x, zscore_window=40)
    assert out.zscore < -10  # y/x spread falls when x jumps
    assert abs(inside.zscore) < abs(out.zscore) / 3
    with pytest.raises(AnalyticsError):
        pair_metrics(y, x, holdout=40)
