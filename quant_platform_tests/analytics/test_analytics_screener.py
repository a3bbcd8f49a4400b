"""Pair screener and lead-lag: planted pairs rank first, BH controls false discoveries,
statistics match statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.tsa.stattools import coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from quant_platform.analytics.errors import AnalyticsError
from quant_platform.analytics.lead_lag import correlation_matrix, lead_lag
from quant_platform.analytics.screener import (
    ScreenConfig,
    bh_qvalues,
    hedge_stability,
    hurst_exponent,
    mean_crossings,
    screen_pairs,
)


def universe(
    seed: int, n_walks: int, n_planted: int, t: int, phi: float = 0.9
) -> tuple[pd.DataFrame, set[frozenset[str]]]:
    """Independent random walks plus `n_planted` pairs y = 0.5 + 1.3 x + AR(1) noise."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i in range(n_walks):
        cols[f"W{i:02d}USDT"] = 4.0 + np.cumsum(rng.normal(0, 1e-3, t))
    planted = set()
    for i in range(n_planted):
        x = 3.0 + np.cumsum(rng.normal(0, 1e-3, t))
        u = np.zeros(t)
        e = rng.normal(0, 1e-3, t)
        for k in range(1, t):
            u[k] = phi * u[k - 1] + e[k]
        cols[f"X{i}USDT"], cols[f"Y{i}USDT"] = x, 0.5 + 1.3 * x + u
        planted.add(frozenset((f"X{i}USDT", f"Y{i}USDT")))
    return pd.DataFrame(cols), planted


def test_planted_pairs_rank_at_the_top() -> None:
    prices, planted = universe(seed=7, n_walks=8, n_planted=3, t=600)
    res = screen_pairs(prices, config=ScreenConfig(min_obs=100))
    assert len(res.pairs) == 14 * 13 // 2
    top = {frozenset((p.symbol_y, p.symbol_x)) for p in res.pairs[:3]}
    assert top == planted
    assert [p.rank for p in res.pairs] == list(range(1, len(res.pairs) + 1))
    best = res.pairs[0]
    assert best.symbol_y.startswith("Y") and best.hedge_ratio == pytest.approx(1.3, abs=0.05)
    assert best.qvalue <= 0.05 and best.half_life_bars < 20 and best.hurst < 0.3
    assert all(p.qvalue >= p.pvalue for p in res.pairs)


def test_bh_controls_false_discoveries_where_raw_p_does_not() -> None:
    fdp_q, fdp_p = [], []
    for seed in range(50):
        prices, planted = universe(seed, n_walks=4, n_planted=2, t=400, phi=0.8)
        res = screen_pairs(prices, config=ScreenConfig(min_obs=100, johansen=False))
        for share, pick in (
            (fdp_q, lambda p: p.qvalue <= 0.05),
            (fdp_p, lambda p: p.pvalue <= 0.05),
        ):
            found = [p for p in res.pairs if pick(p)]
            false = [p for p in found if frozenset((p.symbol_y, p.symbol_x)) not in planted]
            share.append(len(false) / max(1, len(found)))
    # BH bounds the FDR by 0.05 m0/m = 4.6 % here; measured 6.9 % (the EG p-values'
    # far tail is a little liberal on 400 bars, and 50 universes give a standard error
    # of about 2 points), against 23 % for the raw p cut.
    assert np.mean(fdp_q) <= 0.08, np.mean(fdp_q)
    assert np.mean(fdp_p) >= 0.15, np.mean(fdp_p)


def test_every_statistic_matches_statsmodels_or_a_hand_computation() -> None:
    prices, _ = universe(seed=3, n_walks=0, n_planted=1, t=400, phi=0.95)
    y, x = prices["Y0USDT"].to_numpy(), prices["X0USDT"].to_numpy()
    vol = pd.DataFrame({"Y0USDT": np.arange(400.0), "X0USDT": np.full(400, 7.0)})
    (row,) = screen_pairs(prices, vol, ScreenConfig(min_obs=50, subwindows=4)).pairs
    assert (row.symbol_y, row.symbol_x) == ("Y0USDT", "X0USDT")
    sm_yx, sm_xy = coint(y, x, autolag="bic")[1], coint(x, y, autolag="bic")[1]
    assert row.eg_pvalue_yx == pytest.approx(sm_yx, rel=1e-6, abs=1e-12)
    assert row.eg_pvalue_xy == pytest.approx(sm_xy, rel=1e-6)
    assert row.eg_stat == pytest.approx(coint(y, x, autolag="bic")[0], rel=1e-8)
    assert row.pvalue == pytest.approx(min(1.0, 2 * min(sm_yx, sm_xy)))
    jo = coint_johansen(np.column_stack([y, x]), 0, 1)
    assert row.johansen_trace == pytest.approx(jo.lr1[0]) and row.johansen_crit_95 == jo.cvt[0, 1]
    import statsmodels.api as sm

    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert row.hedge_ratio == pytest.approx(ols.params[1], rel=1e-9)
    spread = y - ols.params[0] - ols.params[1] * x
    ar = sm.OLS(np.diff(spread), sm.add_constant(spread[:-1])).fit()
    assert row.half_life_bars == pytest.approx(-math.log(2) / math.log(1 + ar.params[1]), rel=1e-9)
    assert row.half_life_s == pytest.approx(row.half_life_bars * 60)
    d = spread - spread.mean()
    crossings = sum(1 for a, b in zip(d[:-1], d[1:], strict=True) if a * b < 0)
    assert row.mean_crossings == crossings
    ry, rx = np.diff(y), np.diff(x)
    assert row.return_correlation == pytest.approx(np.corrcoef(ry, rx)[0, 1])
    assert row.liquidity == 7.0  # the thinner symbol's median quote volume per bar
    betas = [
        sm.OLS(y[a : a + 100], sm.add_constant(x[a : a + 100])).fit().params[1]
        for a in range(0, 400, 100)
    ]
    assert row.hedge_ratio_cv == pytest.approx(np.std(betas, ddof=1) / abs(np.mean(betas)))
    assert hedge_stability(y, x, 4) == row.hedge_ratio_cv
    p = np.array([0.001, 0.2, 0.03, 0.04, 0.5, 0.011])
    assert np.allclose(bh_qvalues(p), multipletests(p, method="fdr_bh")[1])
    assert mean_crossings(np.array([1.0, -1.0, 1.0, 1.0, -1.0])) == 3


def test_hurst_separates_random_walk_noise_and_trend() -> None:
    rng = np.random.default_rng(11)
    e = rng.normal(size=5000)
    assert hurst_exponent(np.cumsum(e)) == pytest.approx(0.5, abs=0.06)
    assert hurst_exponent(e) < 0.1
    assert hurst_exponent(np.cumsum(np.cumsum(e))) > 0.9
    # hand computation of the same estimator on a short fixed series
    s = np.cumsum(np.sin(np.arange(60.0)) + 0.1 * np.arange(60.0) % 3)
    lags = np.unique(np.geomspace(2, 30, num=20).astype(int))
    tau = [np.std(s[k:] - s[:-k]) for k in lags]
    assert hurst_exponent(s, 30) == pytest.approx(np.polyfit(np.log(lags), np.log(tau), 1)[0])
    assert math.isnan(hurst_exponent(np.ones(3)))


def test_liquidity_floor_excludes_before_testing() -> None:
    prices, _ = universe(seed=1, n_walks=3, n_planted=0, t=200)
    vol = pd.DataFrame(
        {c: np.full(200, v) for c, v in zip(prices, (10.0, 1000.0, 1000.0), strict=True)}
    )
    res = screen_pairs(prices, vol, ScreenConfig(min_obs=50, min_quote_volume=100.0))
    assert list(res.excluded) == ["W00USDT"] and "floor" in res.excluded["W00USDT"]
    assert [{p.symbol_y, p.symbol_x} for p in res.pairs] == [{"W01USDT", "W02USDT"}]


def test_lead_lag_finds_a_three_bar_shift_and_the_matrix_is_symmetric() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=2000)
    y = np.roll(x, 3) + 0.5 * rng.normal(size=2000)
    ll = lead_lag(x, y, max_lag=10)
    assert ll.best_lag == 3 and ll.significant
    assert ll.best_corr == pytest.approx(np.corrcoef(x[:-3], y[3:])[0, 1])
    assert ll.band == pytest.approx(1.96 / math.sqrt(2000))
    assert list(ll.lags) == list(range(-10, 11))
    assert lead_lag(y, x, 10).best_lag == -3
    with pytest.raises(AnalyticsError, match="too few"):
        lead_lag(x[:12], y[:12], 5)
    prices = pd.DataFrame(
        {"A": np.cumsum(x), "B": np.cumsum(y), "C": np.cumsum(rng.normal(size=2000))}
    )
    m = correlation_matrix(prices)
    assert np.allclose(m.to_numpy(), m.to_numpy().T) and np.allclose(np.diag(m), 1.0)
    assert m.loc["A", "C"] == pytest.approx(np.corrcoef(x[1:], prices["C"].diff()[1:])[0, 1])
