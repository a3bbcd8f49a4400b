"""O(n) rolling statistics against a naive per-window computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quant_platform.analytics import (
    AnalyticsError,
    correlation,
    rolling_corr,
    rolling_cov,
    rolling_mean,
    rolling_std,
    rolling_sum,
    zscore,
)

# |v| < 1e-100 is flushed to 0: squares and products of such values underflow to
# subnormals, where even the naive reference (np.corrcoef) is off by 2%
values = st.one_of(
    st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False).map(
        lambda v: 0.0 if abs(v) < 1e-100 else v
    ),
    st.sampled_from([0.0, 1.0, 60000.0, np.nan, np.inf]),  # repeats -> constant windows
)
series = st.lists(values, min_size=0, max_size=60).map(lambda v: np.array(v, dtype=float))
windows = st.integers(1, 12)


def _naive(x: np.ndarray, w: int, f, y: np.ndarray | None = None) -> np.ndarray:
    out = np.full(x.size, np.nan)
    for i in range(w - 1, x.size):
        a = x[i - w + 1 : i + 1]
        b = None if y is None else y[i - w + 1 : i + 1]
        if np.isfinite(a).all() and (b is None or np.isfinite(b).all()):
            out[i] = f(a) if b is None else f(a, b)
    return out


def _scale(x: np.ndarray, w: int) -> np.ndarray:
    """Per-window magnitude: errors are judged relative to it (rounding is)."""
    return _naive(x, w, lambda a: np.abs(a).max() + 1.0)


def _close(got, want, tol):
    both = np.isfinite(want)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    assert np.all(np.abs(got[both] - want[both]) <= tol[both]), (got, want)


@settings(max_examples=50, deadline=None)
@given(x=series, w=windows)
def test_rolling_sum_mean_match_naive(x, w):
    tol = 1e-9 * _scale(x, w) * w
    _close(rolling_sum(x, w), _naive(x, w, np.sum), tol)
    _close(rolling_mean(x, w), _naive(x, w, np.mean), tol)


@settings(max_examples=50, deadline=None)
@given(x=series, w=windows)
# a near-constant window right after a large value that is outside it: its tiny
# std (7.07e-6) was once snapped to 0 because the large value scaled the zero test
@example(x=np.array([0.0] * 15 + [120.0, 0.99999, 1.0]), w=2)
def test_rolling_std_matches_naive(x, w):
    want = _naive(x, w, lambda a: np.std(a, ddof=1) if a.size > 1 else np.nan)
    got = rolling_std(x, w)
    _close(got, want, 1e-6 * _scale(x, w))
    const = _naive(x, w, lambda a: float(a.max() == a.min()))
    if w > 1:
        assert np.all(got[const == 1.0] == 0.0)  # constant windows are exactly 0


@settings(max_examples=50, deadline=None)
@given(x=series, w=st.integers(2, 12), seed=st.integers(0, 2**16))
def test_rolling_zscore_and_corr_match_naive(x, w, seed):
    y = np.random.default_rng(seed).normal(size=x.size) * 10 + 0.5 * np.nan_to_num(x, posinf=0)
    y[np.isinf(x)] = np.inf

    def z(a):
        sd = np.std(a, ddof=1)
        return (a[-1] - a.mean()) / sd if a.max() != a.min() else np.nan

    def c(a, b):
        return np.corrcoef(a, b)[0, 1] if a.max() != a.min() and b.max() != b.min() else np.nan

    got, want = zscore(x, w), _naive(x, w, z)
    # z is ill-conditioned when std << level; compare only where it is well defined
    sd = _naive(x, w, lambda a: np.std(a))
    good = np.isfinite(want) & (sd > 1e-6 * _scale(x, w))
    assert np.array_equal(
        np.isnan(got[~good & np.isnan(want)]), np.ones((~good & np.isnan(want)).sum(), bool)
    )
    assert np.allclose(got[good], want[good], rtol=1e-6, atol=1e-6)
    gc, wc = rolling_corr(x, y, w), _naive(x, w, c, y)
    ok = np.isfinite(wc) & np.isfinite(gc)
    assert np.allclose(gc[ok], wc[ok], atol=1e-6)
    assert np.all(np.isnan(gc[np.isnan(wc)]))
    wv = _naive(x, w, lambda a, b: np.cov(a, b, ddof=1)[0, 1], y)
    gv = rolling_cov(x, y, w)
    okv = np.isfinite(wv)
    assert np.allclose(gv[okv], wv[okv], rtol=1e-6, atol=1e-6 * (_scale(x, w) * _scale(y, w))[okv])


def test_high_price_level_tiny_moves_keeps_precision():
    """BTC at 60,000 with 1e-4 moves: naive cumsums would lose every digit."""
    rng = np.random.default_rng(0)
    n, w = 200_000, 500
    x = 60000.0 + np.cumsum(rng.normal(0, 1e-4, n))
    y = 3000.0 + 0.05 * (x - 60000.0) + rng.normal(0, 1e-5, n)
    idx = rng.integers(w, n, 200)
    sd, zs, cr = rolling_std(x, w), zscore(x, w), rolling_corr(x, y, w)
    for i in idx:
        a, b = x[i - w + 1 : i + 1], y[i - w + 1 : i + 1]
        ac, bc = a - a.mean(), b - b.mean()  # two-pass centred reference
        ref_sd = np.sqrt(ac @ ac / (w - 1))
        assert sd[i] == pytest.approx(ref_sd, rel=1e-9)
        # x - mean carries eps * 60000 ~ 1e-11 from the data itself: ~1e-8 in z units
        assert zs[i] == pytest.approx(ac[-1] / ref_sd, abs=1e-7)
        assert cr[i] == pytest.approx(ac @ bc / np.sqrt((ac @ ac) * (bc @ bc)), abs=1e-9)


def test_matches_pandas_and_keeps_index():
    rng = np.random.default_rng(1)
    s = pd.Series(
        rng.normal(size=1000).cumsum(), index=pd.date_range("2024", periods=1000, freq="s")
    )
    z = zscore(s, 50)
    assert isinstance(z, pd.Series) and z.index.equals(s.index)
    ref = (s - s.rolling(50).mean()) / s.rolling(50).std()
    pd.testing.assert_series_equal(z, ref, check_names=False, rtol=1e-9)


def test_window_validation_and_short_series():
    with pytest.raises(AnalyticsError):
        zscore([1.0, 2.0, 3.0], 0)
    with pytest.raises(AnalyticsError):
        zscore([1.0, 2.0, 3.0], 1)
    with pytest.raises(AnalyticsError):
        rolling_mean([1.0, 2.0], 1.5)  # type: ignore[arg-type]
    assert np.isnan(zscore([1.0, 2.0], 5)).all()
    assert rolling_std(np.array([]), 3).size == 0


def test_correlation_full_and_rolling():
    rng = np.random.default_rng(2)
    r = rng.normal(0, 1e-3, (2, 500))
    r[1] = 0.6 * r[0] + 0.8 * r[1]
    a, b = 60000 * np.exp(np.cumsum(r[0])), 3000 * np.exp(np.cumsum(r[1]))
    full = correlation(a, b)
    assert full == pytest.approx(
        np.corrcoef(np.diff(np.log(a)), np.diff(np.log(b)))[0, 1], abs=1e-12
    )
    roll = correlation(a, b, window=100)
    assert np.isnan(roll[:100]).all() and np.isfinite(roll[100:]).all()
    i = 300
    ra, rb = np.diff(np.log(a))[i - 100 : i], np.diff(np.log(b))[i - 100 : i]
    assert roll[i] == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=1e-10)
    assert np.isnan(correlation(np.ones(10), b[:10], on_returns=False))
    with pytest.raises(AnalyticsError):
        correlation([1.0, -2.0, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(AnalyticsError):
        correlation([1.0, 2.0], [1.0, 2.0])


def test_rolling_outputs_are_causal_bit_for_bit():
    """Changing data after i never moves an output at or before i, not even in the last digit."""
    rng = np.random.default_rng(11)
    x = 60000.0 + np.cumsum(rng.normal(0, 5.0, 1000))
    y = 0.05 * x + rng.normal(0, 0.5, 1000)
    for cut in (37, 500, 998):
        x2, y2 = x.copy(), y.copy()
        x2[cut + 1 :] *= 1.7
        y2[cut + 1 :] += 123.0
        for f in (rolling_mean, rolling_std):
            np.testing.assert_array_equal(f(x, 64)[: cut + 1], f(x2, 64)[: cut + 1])
        np.testing.assert_array_equal(
            rolling_cov(x, y, 64)[: cut + 1], rolling_cov(x2, y2, 64)[: cut + 1]
        )


def test_a_large_value_before_the_window_does_not_swamp_it() -> None:
    """Found by hypothesis: 60000 just before [0, 0.0078125] zeroed that window's std.

    Each part of a window is centred on one of its own values, so rounding stays at the
    window's scale whatever came before it.
    """
    x = np.array([0.0, 0.0, 0.0, 0.0, 60000.0, 0.0, 0.0078125])
    for w in (2, 3):
        want = _naive(x, w, lambda a: np.std(a, ddof=1))
        _close(rolling_std(x, w), want, 1e-9 * _scale(x, w))
    y = np.array([1e6, 1e6 + 1, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0])
    want = _naive(y, 3, lambda a: np.std(a, ddof=1))
    _close(rolling_std(y, 3), want, 1e-9 * _scale(y, 3))
    _close(rolling_mean(y, 3), _naive(y, 3, np.mean), 1e-9 * _scale(y, 3))
