"""Pair backtest: hand-computed trades, cost identity, funding signs, no look-ahead, sweeps."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.analytics import hedge_ratio, zscore
from quant_platform.analytics.backtest import (
    BacktestError,
    BacktestParams,
    FundingSeries,
    PairBars,
    Signal,
    backtest,
    compute_signal,
    merge_sweeps,
    simulate,
    split_lookbacks,
    sweep,
    walk_forward,
)

T0 = 1_704_095_760_000  # 2024-01-01 07:56:00 UTC: 08:00 funding falls inside the bars
MIN = 60_000


def _hand_bars() -> tuple[PairBars, Signal]:
    """Ten 1-minute bars with a z path that crosses +2 at bar 3 and -2 at bar 7."""
    t = T0 + MIN * np.arange(10)
    y = np.array([100, 100, 100, 102, 101, 99, 100, 98, 99, 100], float)
    x = np.array([200, 200, 200, 201, 200, 199, 200, 202, 201, 200], float)
    z = np.array([np.nan, 0, 1, 2.5, 1.0, 0.2, 0, -2.2, -1, -0.3])
    beta = np.full(10, 0.5)
    funding_y = FundingSeries(np.array([t[4], t[5], t[8] + 30_000]), np.array([1e-4, 5e-4, 3e-4]))
    funding_x = FundingSeries(np.array([t[4], t[5], t[8] + 30_000]), np.array([-2e-4, 5e-4, 1e-4]))
    bars = PairBars(t, y, x, funding_y=funding_y, funding_x=funding_x).checked()
    return bars, Signal(z, beta)


HAND = BacktestParams(
    entry=2.0,
    exit=0.5,
    lookback=3,
    neutrality="beta",
    notional=1000.0,
    taker_fee_bps=5.0,
    slippage_bps=2.0,
)


def test_trades_and_pnl_equal_hand_computation_to_the_cent():
    bars, sig = _hand_bars()
    res = simulate(bars, sig, HAND)
    assert [(tr.side, tr.exit_reason, tr.bars_held) for tr in res.trades] == [
        (-1, "exit", 2),
        (1, "exit", 2),
    ]
    t1, t2 = res.trades
    # Trade 1: short spread at bar 3 (sell 1000/102 y @102, buy 0.5*1000/201 x @201),
    # out at bar 5 (y 99, x 199). Funding at bar 4's time is paid; the one at the exit
    # instant (bar 5) is not, because the position is gone at T.
    qy, qx = 1000 / 102, 500 / 201
    assert t1.qty_y == pytest.approx(-qy) and t1.qty_x == pytest.approx(qx)
    gross1 = qy * (102 - 99) + qx * (199 - 201)
    traded1 = 1000 + qy * 99 + 500 + qx * 199
    fees1, slip1 = traded1 * 5e-4, traded1 * 2e-4
    funding1 = -qy * 101 * 1e-4 + qx * 200 * -2e-4  # short y receives, long x receives
    assert round(t1.gross_pnl, 2) == round(gross1, 2) == 24.44
    assert round(t1.fees, 2) == round(fees1, 2) == 1.48
    assert round(t1.slippage, 2) == round(slip1, 2) == 0.59
    assert round(t1.funding, 2) == round(funding1, 2) == -0.20
    assert round(t1.net_pnl, 2) == round(gross1 - fees1 - slip1 - funding1, 2) == 22.56
    assert t1.entry_fill_y == pytest.approx(102 * (1 - 2e-4))  # sold
    assert t1.entry_fill_x == pytest.approx(201 * (1 + 2e-4))  # bought
    assert t1.exit_fill_y == pytest.approx(99 * (1 + 2e-4))
    assert t1.exit_fill_x == pytest.approx(199 * (1 - 2e-4))
    # Trade 2: long spread at bar 7 (buy 1000/98 y @98, sell 500/202 x @202), out at
    # bar 9 (y 100, x 200); funding at 08:03:30 priced at bar 8's closes (99, 201).
    qy, qx = 1000 / 98, 500 / 202
    gross2 = qy * (100 - 98) + qx * (202 - 200)
    traded2 = 1000 + qy * 100 + 500 + qx * 200
    funding2 = qy * 99 * 3e-4 - qx * 201 * 1e-4
    assert round(t2.gross_pnl, 2) == round(gross2, 2) == 25.36
    assert round(t2.fees, 2) == round(traded2 * 5e-4, 2)
    assert round(t2.slippage, 2) == round(traded2 * 2e-4, 2)
    assert round(t2.funding, 2) == round(funding2, 2) == 0.25
    net2 = gross2 - traded2 * 7e-4 - funding2
    assert round(t2.net_pnl, 2) == round(net2, 2)
    # The equity curve books the same money at the bars where it happens.
    net1 = gross1 - fees1 - slip1 - funding1
    assert res.equity[-1] - 1000.0 == pytest.approx(net1 + net2, abs=1e-9)
    assert res.equity[2] == 1000.0  # flat before the first trade
    assert res.equity[3] == pytest.approx(1000.0 - (1000 + 500) * 7e-4)  # entry costs only
    assert res.metrics.n_trades == 2 and res.metrics.hit_rate == 1.0
    assert res.metrics.turnover == pytest.approx((traded1 + traded2) / 1000.0)
    assert res.metrics.avg_holding_ms == 2 * MIN


def test_pnl_with_costs_is_pnl_without_costs_minus_modelled_costs():
    bars = _random_bars(3000, seed=3, with_volume=True)
    free = BacktestParams(lookback=60, taker_fee_bps=0.0, slippage_bps=0.0)
    plain = replace(bars, funding_y=FundingSeries.empty(), funding_x=FundingSeries.empty())
    for costly in (
        replace(free, taker_fee_bps=5.0, slippage_bps=3.0),
        replace(free, liquidity="maker", maker_fee_bps=2.0, slippage="sqrt", impact_bps=15.0),
    ):
        a, b = backtest(plain, free), backtest(bars, costly)
        assert a.metrics.n_trades == b.metrics.n_trades > 5
        costs = sum(t.fees + t.slippage + t.funding for t in b.trades)
        assert b.metrics.fees > 0 and b.metrics.slippage > 0 and b.metrics.funding != 0
        assert b.metrics.net_pnl == pytest.approx(a.metrics.net_pnl - costs, abs=1e-9)
        assert b.equity[-1] == pytest.approx(a.equity[-1] - costs, abs=1e-9)
        for ta, tb in zip(a.trades, b.trades, strict=True):
            assert tb.net_pnl == pytest.approx(
                ta.net_pnl - tb.fees - tb.slippage - tb.funding, abs=1e-9
            )
            # The slippage charged is exactly what the worse fill prices cost.
            at_fills = tb.qty_y * (tb.exit_fill_y - tb.entry_fill_y) + tb.qty_x * (
                tb.exit_fill_x - tb.entry_fill_x
            )
            assert at_fills - tb.fees - tb.funding == pytest.approx(tb.net_pnl, abs=1e-9)


@pytest.mark.parametrize(("side", "rate"), [(1, 1e-4), (-1, 1e-4), (1, -3e-4), (-1, -3e-4)])
def test_funding_across_a_funding_time_pays_rate_times_notional_per_leg(side, rate):
    t = T0 + MIN * np.arange(8)
    y = np.full(8, 50.0)
    x = np.full(8, 25.0)
    z = np.array([np.nan, 0, -2.5 * side, -1.5 * side, -1.0 * side, 0.0, 0, 0])
    when = np.array([T0 + 4 * MIN])  # 08:00, bar 4 is its close
    f = FundingSeries(when, np.array([rate]))
    bars = PairBars(t, y, x, funding_y=f, funding_x=FundingSeries(when, np.array([2e-4]))).checked()
    p = BacktestParams(notional=2000.0, exit=0.5, lookback=3, taker_fee_bps=0.0)
    (tr,) = simulate(bars, Signal(z, np.ones(8)), p).trades
    assert tr.side == side and tr.entry_time_ms < T0 + 4 * MIN < tr.exit_time_ms
    # side +1: long y / short x (z went down through -entry). A long leg pays
    # rate x notional, a short leg receives it; dollar-neutral: 2000 USDT each.
    y_leg = side * 2000.0 * rate
    x_leg = -side * 2000.0 * 2e-4
    assert tr.funding == pytest.approx(y_leg + x_leg)
    g = FundingSeries(np.array([T0 + 4 * MIN]), np.array([0.0]))
    one_leg = simulate(replace(bars, funding_x=g), Signal(z, np.ones(8)), p).trades[0]
    assert one_leg.funding == pytest.approx(y_leg)
    assert math.copysign(1, one_leg.funding) == math.copysign(1, tr.side * rate)


def _random_bars(n: int, seed: int, with_volume: bool = False) -> PairBars:
    rng = np.random.default_rng(seed)
    lx = np.log(60000.0) + np.cumsum(rng.normal(0, 5e-4, n))
    s = np.zeros(n)
    for i in range(1, n):
        s[i] = 0.97 * s[i - 1] + rng.normal(0, 4e-4)
    ly = np.log(3000.0) + 0.9 * (lx - lx[0]) + s
    t = T0 + MIN * np.arange(n)
    ft = np.arange(T0 - T0 % 28_800_000, t[-1], 28_800_000)
    fy = FundingSeries(ft, rng.normal(1e-4, 2e-4, ft.size))
    fx = FundingSeries(ft, rng.normal(5e-5, 2e-4, ft.size))
    vy = rng.uniform(50, 500, n) if with_volume else None
    vx = rng.uniform(2, 20, n) if with_volume else None
    return PairBars(t, np.exp(ly), np.exp(lx), vy, vx, fy, fx).checked()


def test_signal_uses_only_bars_before_t_for_the_hedge():
    bars = _random_bars(400, seed=5)
    p = BacktestParams(lookback=50)
    sig = compute_signal(bars, p)
    ly, lx = np.log(bars.y), np.log(bars.x)
    for t in (50, 51, 200, 399):
        h = hedge_ratio(ly[t - 50 : t], lx[t - 50 : t])
        assert sig.beta[t] == pytest.approx(h.beta, rel=1e-9)
    assert np.isnan(sig.beta[:50]).all()
    t = 300
    s = [
        ly[k] - sig.beta[k] * lx[k] - hedge_ratio(ly[k - 50 : k], lx[k - 50 : k]).alpha
        for k in range(t - 49, t + 1)
    ]
    assert sig.z[t] == pytest.approx(zscore(np.array(s), 50)[-1], rel=1e-7)
    exp = compute_signal(bars, replace(p, hedge="expanding"))
    assert exp.beta[t] == pytest.approx(hedge_ratio(ly[:t], lx[:t]).beta, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(min_value=60, max_value=598),
    seed=st.integers(min_value=0, max_value=10_000),
    hedge=st.sampled_from(["rolling", "expanding", "kalman"]),
)
def test_no_look_ahead_changing_data_after_t_changes_nothing_up_to_t(t, seed, hedge):
    bars = _random_bars(600, seed=seed % 7, with_volume=True)
    rng = np.random.default_rng(seed)
    n = 600
    bump = np.ones(n)
    bump[t + 1 :] = np.exp(rng.normal(0, 0.01, n - t - 1).cumsum())
    later_funding = bars.funding_y.time_ms > bars.time_ms[t]
    other = replace(
        bars,
        y=bars.y * bump,
        x=bars.x / bump**0.5,
        volume_y=np.where(np.arange(n) > t, 1.0, bars.volume_y),
        funding_y=FundingSeries(
            bars.funding_y.time_ms, np.where(later_funding, 0.01, bars.funding_y.rate)
        ),
    ).checked()
    p = BacktestParams(
        lookback=30, entry=1.5, exit=0.3, stop=3.5, hedge=hedge, slippage="sqrt", max_hold_bars=40
    )
    a, b = backtest(bars, p), backtest(other, p)
    np.testing.assert_array_equal(a.equity[: t + 1], b.equity[: t + 1])
    done_a = [tr for tr in a.trades if tr.exit_time_ms <= bars.time_ms[t]]
    done_b = [tr for tr in b.trades if tr.exit_time_ms <= bars.time_ms[t]]
    assert done_a == done_b
    open_a = [(tr.entry_time_ms, tr.side, tr.qty_y, tr.qty_x) for tr in a.trades]
    open_b = [(tr.entry_time_ms, tr.side, tr.qty_y, tr.qty_x) for tr in b.trades]
    before = [e for e in open_a if e[0] <= bars.time_ms[t]]
    assert before == [e for e in open_b if e[0] <= bars.time_ms[t]]


def test_stop_and_max_hold_close_positions():
    t = T0 + MIN * np.arange(9)
    y, x = np.full(9, 10.0), np.full(9, 20.0)
    z = np.array([np.nan, 0, 2.1, 2.8, 3.2, 0.0, 2.2, 1.8, 1.7])
    bars = PairBars(t, y, x).checked()
    p = BacktestParams(entry=2.0, exit=0.5, stop=3.0, lookback=3, max_hold_bars=1)
    trades = simulate(bars, Signal(z, np.ones(9)), p).trades
    assert [(tr.exit_reason, tr.bars_held) for tr in trades] == [("max_hold", 1)] * 2
    no_hold = simulate(bars, Signal(z, np.ones(9)), replace(p, max_hold_bars=None)).trades
    assert [(tr.exit_reason, tr.bars_held) for tr in no_hold] == [("stop", 2), ("end", 2)]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"exit": 2.5}, "exit"),
        ({"stop": 1.0}, "stop"),
        ({"lookback": 1}, "lookback"),
        ({"hedge": "lasso"}, "hedge"),
        ({"notional": -5.0}, "notional"),
        ({"taker_fee_bps": -1.0}, "taker_fee_bps"),
        ({"max_hold_bars": 0}, "max_hold_bars"),
    ],
)
def test_bad_parameters_name_the_key(changes, key):
    with pytest.raises(BacktestError, match=f"^{key}: must be"):
        replace(BacktestParams(), **changes).validate()


def test_sqrt_slippage_needs_volumes_and_unordered_bars_are_refused():
    bars = _random_bars(300, seed=1)
    with pytest.raises(BacktestError, match="slippage='sqrt' needs bar volumes"):
        backtest(bars, BacktestParams(lookback=30, entry=1.0, slippage="sqrt"))
    with pytest.raises(BacktestError, match="strictly increasing"):
        backtest(replace(bars, time_ms=bars.time_ms[::-1].copy()))


def test_sweep_cells_equal_single_backtests_and_walk_forward_picks_in_sample_best():
    bars = _random_bars(2000, seed=2)
    p = BacktestParams(lookback=60, slippage_bps=1.0)
    entries, exits = [1.5, 2.0, 2.5], [0.0, 0.5, 2.0]
    sw = sweep(bars, p, entries, exits, lookbacks=[40, 60])
    assert sw.sharpe.shape == (2, 3, 3)
    assert np.isnan(sw.sharpe[:, 0, 2]).all()  # exit 2.0 >= entry 1.5: not a rule
    one = backtest(bars, replace(p, entry=2.0, exit=0.5, lookback=40)).metrics
    assert sw.net_pnl[0, 1, 1] == pytest.approx(one.net_pnl, abs=1e-9)
    assert sw.sharpe[0, 1, 1] == pytest.approx(one.sharpe, rel=1e-9)
    assert sw.n_trades[0, 1, 1] == one.n_trades
    sig40 = compute_signal(bars, replace(p, lookback=40))
    for ei, e in enumerate(entries):  # every cell against the full simulation
        for xi, xv in enumerate(exits):
            if xv < e:
                full = simulate(bars, sig40, replace(p, lookback=40, entry=e, exit=xv)).metrics
                assert sw.sharpe[0, ei, xi] == pytest.approx(full.sharpe, rel=1e-9)
                assert sw.net_pnl[0, ei, xi] == pytest.approx(full.net_pnl, abs=1e-9)
    e, xv, lb = sw.best()
    assert sw.sharpe[[40, 60].index(lb), entries.index(e), exits.index(xv)] == np.nanmax(sw.sharpe)

    folds = walk_forward(bars, p, entries, exits, n_windows=3)
    assert len(folds) == 2
    sig = compute_signal(bars, p)
    edges = np.linspace(0, 2000, 4).astype(int)
    for k, fold in enumerate(folds):
        a, b = edges[k], edges[k + 1]
        scores = [
            simulate(bars.slice(a, b), sig.slice(a, b), replace(p, entry=e, exit=xv)).metrics.sharpe
            for e in entries
            for xv in exits
            if xv < e
        ]
        assert fold.is_sharpe == pytest.approx(max(scores))
        c = edges[k + 2]
        oos = simulate(
            bars.slice(b, c), sig.slice(b, c), replace(p, entry=fold.entry, exit=fold.exit)
        )
        assert fold.oos_sharpe == pytest.approx(oos.metrics.sharpe)
        assert fold.oos_net_pnl == pytest.approx(oos.metrics.net_pnl)


def _sweep_arrays(sw) -> list[np.ndarray]:  # noqa: ANN001 - SweepResult
    return [sw.entries, sw.exits, sw.lookbacks, sw.sharpe, sw.net_pnl, sw.n_trades]


@pytest.mark.parametrize("parts", [1, 2, 3, 5, 9])
def test_merged_lookback_slices_equal_one_sweep_bit_for_bit(parts: int):
    """What the fan-out job does (slices swept apart, stacked) is the whole sweep exactly.

    Exact, not approximate: each lookback's row is computed from the bars, the rule
    and that lookback alone, by the same operations in the same order.
    """
    bars = _random_bars(1500, seed=5)
    p = BacktestParams(stop=3.5, slippage_bps=1.0)
    entries, exits = [1.5, 2.0, 2.5], [0.0, 0.5, 1.0, 2.0]
    lookbacks = [30, 45, 60, 90, 120]
    whole = sweep(bars, p, entries, exits, lookbacks)
    slices = split_lookbacks(lookbacks, parts)
    assert [lb for s in slices for lb in s] == lookbacks
    assert len(slices) == min(parts, len(lookbacks)) and all(slices)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    merged = merge_sweeps([sweep(bars, p, entries, exits, s) for s in slices])
    assert whole.n_trades.sum() > 0 and np.isfinite(whole.sharpe).sum() > 20
    for a, b in zip(_sweep_arrays(merged), _sweep_arrays(whole), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # NaN == NaN here; 0.0 vs -0.0 would not pass
    assert merged.best() == whole.best()
    frame = merged.frame()
    assert len(frame) == len(lookbacks) * sum(x < e for e in entries for x in exits)
    assert frame.equals(whole.frame())


def test_merge_refuses_slices_of_different_grids_and_split_refuses_bad_parts():
    bars = _random_bars(600, seed=6)
    p = BacktestParams()
    a = sweep(bars, p, [1.5, 2.0], [0.5], [30])
    b = sweep(bars, p, [1.5, 2.5], [0.5], [60])
    with pytest.raises(BacktestError, match="different entries"):
        merge_sweeps([a, b])
    with pytest.raises(BacktestError, match="parts"):
        merge_sweeps([])
    with pytest.raises(BacktestError, match="parts"):
        split_lookbacks([30, 60], 0)
    with pytest.raises(BacktestError, match="lookbacks"):
        split_lookbacks([], 2)
