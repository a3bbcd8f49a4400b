"""VWAP, trade imbalance, volatility regime, trend, bar alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quant_platform.analytics import (
    AnalyticsError,
    align_bars,
    trade_imbalance,
    trend,
    volatility_regime,
    vwap,
)


def test_vwap_cumulative_and_rolling():
    rng = np.random.default_rng(0)
    p = 60000 + np.cumsum(rng.normal(0, 0.1, 1000))
    q = rng.exponential(0.01, 1000)
    cum = vwap(p, q)
    assert cum[-1] == pytest.approx((p * q).sum() / q.sum(), rel=1e-14)
    roll = vwap(p, q, window=50)
    assert np.isnan(roll[:49]).all()
    i = 700
    assert roll[i] == pytest.approx(
        (p[i - 49 : i + 1] * q[i - 49 : i + 1]).sum() / q[i - 49 : i + 1].sum(), rel=1e-13
    )
    assert np.isnan(vwap([1.0, 2.0], [0.0, 0.0])).all()
    with pytest.raises(AnalyticsError):
        vwap([1.0, 2.0], [1.0, -1.0])


def test_trade_imbalance_sign_convention():
    q = np.array([1.0, 2.0, 3.0, 4.0])
    bim = np.array([False, True, False, True])  # True: buyer was maker -> aggressor sold
    cum = trade_imbalance(q, bim)
    assert cum[0] == 1.0 and cum[1] == pytest.approx((1 - 2) / 3)
    assert cum[-1] == pytest.approx((1 - 2 + 3 - 4) / 10)
    roll = trade_imbalance(q, bim, window=2)
    assert np.isnan(roll[0]) and roll[3] == pytest.approx((3 - 4) / 7)
    assert trade_imbalance([1.0], [True])[0] == -1.0


def test_volatility_regime_labels():
    rng = np.random.default_rng(1)
    calm = rng.normal(0, 1e-4, 1000)
    storm = rng.normal(0, 1e-3, 60)
    prices = 60000 * np.exp(np.cumsum(np.r_[calm, storm]))
    hi = volatility_regime(prices, 60, 500)
    assert hi.label == "high" and hi.percentile == 100.0
    assert hi.current_vol == pytest.approx(np.std(np.diff(np.log(prices))[-60:], ddof=1), rel=1e-9)
    lo = volatility_regime(np.r_[storm, calm][-600:], 50, 400, is_returns=True)
    assert lo.label in ("low", "normal") and 0 <= lo.percentile <= 100
    with pytest.raises(AnalyticsError, match="needs"):
        volatility_regime(prices[:100], 60, 500)


def test_trend_matches_statsmodels():
    rng = np.random.default_rng(2)
    p = np.log(60000) + 1e-5 * np.arange(300) + rng.normal(0, 1e-4, 300)
    tr = trend(p, window=200)
    ref = sm.OLS(p[-200:], sm.add_constant(np.arange(200.0))).fit()
    assert tr.slope == pytest.approx(ref.params[1], rel=1e-9)
    assert tr.tstat == pytest.approx(ref.tvalues[1], rel=1e-8)
    assert tr.pvalue == pytest.approx(ref.pvalues[1], rel=1e-6, abs=1e-300)
    assert tr.direction == 1 and tr.n_obs == 200
    flat = trend(np.full(50, 3.0))
    assert flat.direction == 0 and np.isnan(flat.pvalue)
    assert trend(rng.normal(size=100)).direction in (-1, 0, 1)
    with pytest.raises(AnalyticsError):
        trend([1.0, 2.0])


def test_align_bars_common_clock_and_fill_limit():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    a = pd.DataFrame(
        {
            "time": [
                t0,
                t0 + pd.Timedelta("0.5s"),
                t0 + pd.Timedelta("1.2s"),
                t0 + pd.Timedelta("6s"),
            ],
            "price": [100.0, 101.0, 102.0, 103.0],
            "qty": 1.0,
        }
    )
    ms = int(t0.value // 1_000_000)
    b = pd.DataFrame({"time": [ms + 2000, ms + 2000], "price": [10.0, 11.0], "qty": [1.0, 2.0]})
    out = align_bars({"A": a, "B": b}, freq="1s", ffill_limit=2)
    assert list(out.columns) == ["A", "B"]
    assert out.index[0] == t0 and out.index[-1] == t0 + pd.Timedelta("6s") and len(out) == 7
    assert str(out.index.tz) == "UTC"
    assert out["A"].tolist()[:5] == [101.0, 102.0, 102.0, 102.0, None] or np.isnan(out["A"].iloc[4])
    assert out["A"].iloc[:4].tolist() == [101.0, 102.0, 102.0, 102.0]
    assert np.isnan(out["A"].iloc[4]) and out["A"].iloc[6] == 103.0
    assert np.isnan(out["B"].iloc[:2]).all() and out["B"].iloc[2] == 11.0  # later trade wins
    assert out["B"].iloc[4] == 11.0 and np.isnan(out["B"].iloc[5])
    with pytest.raises(AnalyticsError, match="missing"):
        align_bars({"A": a.drop(columns="qty")})
    with pytest.raises(AnalyticsError):
        align_bars({})
