"""Hedge ratios against statsmodels / scipy and naive references."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from quant_platform.analytics import (
    AnalyticsError,
    hedge_ratio,
    kalman_hedge_ratio,
    rolling_hedge_ratio,
    spread,
)


def _pair(n: int = 800, seed: int = 0, beta: float = 1.3):
    rng = np.random.default_rng(seed)
    x = np.log(60000.0) + np.cumsum(rng.normal(0, 1e-3, n))
    y = 0.2 + beta * x + rng.normal(0, 5e-4, n)
    return y, x


def test_ols_matches_statsmodels_at_price_levels():
    rng = np.random.default_rng(1)
    x = 60000.0 + np.cumsum(rng.normal(0, 5.0, 2000))
    y = 100.0 + 0.05 * x + rng.normal(0, 0.5, 2000)
    ref = sm.OLS(y, sm.add_constant(x)).fit()
    h = hedge_ratio(y, x)
    assert h.beta == pytest.approx(ref.params[1], rel=1e-9)
    assert h.alpha == pytest.approx(ref.params[0], rel=1e-9, abs=1e-9 * 60000)
    assert h.resid_std == pytest.approx(np.sqrt(ref.scale), rel=1e-9)
    assert h.n_obs == 2000 and h.method == "ols"


def test_huber_matches_statsmodels_rlm_and_resists_outliers():
    y, x = _pair(500, 2)
    y = y.copy()
    y[::25] += 0.05  # bad prints
    ref = sm.RLM(y, sm.add_constant(x), M=sm.robust.norms.HuberT()).fit(tol=1e-12, maxiter=200)
    h = hedge_ratio(y, x, method="huber")
    assert h.beta == pytest.approx(ref.params[1], rel=1e-6)
    assert h.alpha == pytest.approx(ref.params[0], rel=1e-6, abs=1e-6)
    assert abs(h.beta - 1.3) < abs(hedge_ratio(y, x).beta - 1.3)


def test_theil_sen_matches_scipy():
    y, x = _pair(300, 3)
    ref = stats.theilslopes(y, x, method="joint")
    h = hedge_ratio(y, x, method="theil_sen")
    assert h.beta == pytest.approx(ref.slope, rel=1e-12)
    assert h.alpha == pytest.approx(ref.intercept, rel=1e-9)


def test_hedge_ratio_degenerate_inputs():
    with pytest.raises(AnalyticsError, match="constant"):
        hedge_ratio([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    with pytest.raises(AnalyticsError, match="non-finite"):
        hedge_ratio([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(AnalyticsError, match="at least 3"):
        hedge_ratio([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(AnalyticsError, match="mismatch"):
        hedge_ratio([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    with pytest.raises(AnalyticsError, match="method"):
        hedge_ratio([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], method="lasso")  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    xs=st.lists(
        st.floats(-100, 100, allow_nan=False, allow_subnormal=False), min_size=0, max_size=40
    ),
    w=st.integers(2, 10),
    nan_at=st.integers(-1, 39),
)
def test_rolling_hedge_ratio_matches_naive(xs, w, nan_at):
    x = np.array(xs, dtype=float)
    y = 2.0 - 0.7 * x + np.sin(np.arange(x.size))
    if 0 <= nan_at < x.size:
        x[nan_at] = np.nan
    got = rolling_hedge_ratio(y, x, w)
    for i in range(x.size):
        a, b = x[max(0, i - w + 1) : i + 1], y[max(0, i - w + 1) : i + 1]
        if i < w - 1 or not np.isfinite(a).all():
            assert np.isnan(got.beta[i])
            continue
        ac = a - a.mean()
        if (ac @ ac) <= 1e-12 * (1 + np.abs(a).max()) ** 2 * w:
            continue  # (near-)constant x: beta undefined or ill-conditioned
        beta = ac @ (b - b.mean()) / (ac @ ac)
        assert got.beta[i] == pytest.approx(beta, rel=1e-6, abs=1e-6)
        assert got.alpha[i] == pytest.approx(b.mean() - beta * a.mean(), rel=1e-6, abs=1e-5)


def test_kalman_matches_matrix_filter_and_tracks_beta():
    rng = np.random.default_rng(4)
    n = 600
    x = 50.0 + np.cumsum(rng.normal(0, 1.0, n))
    beta_true = np.linspace(0.8, 1.2, n)
    y = 0.1 + beta_true * x + rng.normal(0, 0.1, n)
    delta, r = 1e-4, 1e-2
    k = kalman_hedge_ratio(y, x, delta=delta, obs_var=r)
    s, p, q = np.zeros(2), np.eye(2) * 1e4, delta / (1 - delta) * np.eye(2)
    for t in range(n):
        p = p + q
        h = np.array([x[t], 1.0])
        e = y[t] - h @ s
        sv = h @ p @ h + r
        kg = p @ h / sv
        s = s + kg * e
        p = p - np.outer(kg, h) @ p
        assert k.beta[t] == pytest.approx(s[0], rel=1e-6, abs=1e-9)
        assert k.forecast_error[t] == pytest.approx(e, rel=1e-6, abs=1e-12)
        assert k.forecast_std[t] == pytest.approx(np.sqrt(sv), rel=1e-6)
    assert abs(k.beta[-1] - 1.2) < 0.1


def test_kalman_skips_missing_and_validates():
    y, x = _pair(50, 5)
    y[10] = np.nan
    k = kalman_hedge_ratio(y, x)
    assert np.isnan(k.beta[10]) and np.isfinite(k.beta[11])
    with pytest.raises(AnalyticsError):
        kalman_hedge_ratio(y, x, delta=1.5)
    with pytest.raises(AnalyticsError):
        kalman_hedge_ratio([1.0], [1.0])


def test_spread_static_and_dynamic():
    y, x = _pair(100, 6)
    np.testing.assert_allclose(spread(y, x, 1.3, 0.2), y - 1.3 * x - 0.2)
    b = np.full(100, 1.3)
    np.testing.assert_allclose(spread(y, x, b), y - 1.3 * x)
    with pytest.raises(AnalyticsError):
        spread(y, x, np.ones(3))
