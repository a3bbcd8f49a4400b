"""ADF / Engle-Granger / half-life against statsmodels on the same data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from statsmodels.tsa.stattools import adfuller, coint

from quant_platform.analytics import AnalyticsError, adf, engle_granger, half_life


def _series(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    if kind == "rw":
        return 60000.0 + np.cumsum(e)
    if kind == "ar":
        out = np.zeros(n)
        for t in range(1, n):
            out[t] = 0.7 * out[t - 1] + e[t] + 0.4 * e[t - 1]
        return out
    return np.log(3000.0) + np.cumsum(1e-4 * e) + 1e-5 * np.arange(n)  # log price, drift


def _adfuller(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return adfuller(x, **kw)


@pytest.mark.parametrize("autolag", ["AIC", "BIC", "t-stat", None])
@pytest.mark.parametrize("regression", ["c", "ct", "n"])
@pytest.mark.parametrize(
    "kind,n,seed", [("rw", 500, 1), ("ar", 250, 2), ("log", 2000, 3), ("ar", 40, 4)]
)
def test_adf_matches_adfuller(kind, n, seed, regression, autolag):
    x = _series(kind, n, seed)
    ours = adf(x, regression=regression, autolag=autolag)
    ref = _adfuller(x, regression=regression, autolag=autolag)
    assert ours.usedlag == ref[2]
    assert ours.nobs == ref[3]
    assert ours.stat == pytest.approx(ref[0], rel=1e-8, abs=1e-10)
    assert ours.pvalue == pytest.approx(ref[1], abs=1e-6)
    assert ours.critical_values == pytest.approx(ref[4], rel=1e-12)
    if autolag is None:
        assert ours.icbest is None
    else:
        assert ours.icbest == pytest.approx(ref[5], rel=1e-8, abs=1e-8)


def test_adf_explicit_maxlag_and_errors():
    x = _series("rw", 300, 5)
    for ml in (0, 1, 7):
        ours, ref = adf(x, maxlag=ml, autolag=None), _adfuller(x, maxlag=ml, autolag=None)
        assert ours.stat == pytest.approx(ref[0], rel=1e-8) and ours.usedlag == ml
    with pytest.raises(AnalyticsError, match="constant"):
        adf(np.full(100, 3.0))
    with pytest.raises(AnalyticsError, match="non-finite"):
        adf(np.r_[x[:50], np.nan, x[51:]])
    with pytest.raises(AnalyticsError, match="maxlag"):
        adf(x, maxlag=200)
    with pytest.raises(AnalyticsError):
        adf([1.0, 2.0])
    with pytest.raises(AnalyticsError, match="autolag"):
        adf(x, autolag="hqic")


@pytest.mark.parametrize("autolag", ["aic", "bic", "t-stat", None])
@pytest.mark.parametrize("trend", ["c", "ct"])
def test_engle_granger_matches_coint(trend, autolag):
    rng = np.random.default_rng(7)
    x = np.log(60000.0) + np.cumsum(rng.normal(0, 1e-3, 1500))
    y = 0.3 + 1.2 * x + np.convolve(rng.normal(0, 1e-3, 1500), [1, 0.6], "same")
    ours = engle_granger(y, x, trend=trend, autolag=autolag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = coint(y, x, trend=trend, autolag=autolag)
    assert ours.stat == pytest.approx(ref[0], rel=1e-8)
    assert ours.pvalue == pytest.approx(ref[1], abs=1e-6)
    assert list(ours.critical_values.values()) == pytest.approx(list(ref[2]), rel=1e-12)
    assert ours.beta == pytest.approx(1.2, rel=1e-2)


def test_engle_granger_not_cointegrated_has_high_pvalue():
    rng = np.random.default_rng(8)
    x, y = np.cumsum(rng.normal(size=(2, 1000)), axis=1)
    assert engle_granger(y, x).pvalue > 0.05


def test_half_life_recovers_ou_and_documents_edges():
    rng = np.random.default_rng(9)
    phi, n = 0.95, 20000
    s = np.zeros(n)
    e = rng.normal(size=n)
    for t in range(1, n):
        s[t] = phi * s[t - 1] + e[t]
    assert half_life(s) == pytest.approx(-math.log(2) / math.log(phi), rel=0.1)
    assert half_life(np.arange(100.0) ** 1.5) == math.inf  # explosive: b >= 0
    alt = np.tile([1.0, -1.0], 50) * (1 + 0.01 * np.arange(100))
    assert math.isnan(half_life(alt))  # phi <= 0: no OU mapping
    with pytest.raises(AnalyticsError):
        half_life([1.0, 1.0, 1.0, 1.0])
    with pytest.raises(AnalyticsError):
        half_life([1.0, 2.0])
