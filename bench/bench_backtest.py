"""Pair backtest benchmark: the vectorised engine vs a straightforward pandas loop.

Run: .venv/bin/python bench/bench_backtest.py
Writes bench/results/backtest.json. 30 days of 1-minute bars (43,200), funding
every 8 h on both legs, fees + slippage. The baseline is what one writes first:
pandas rolling OLS and z-score, then a ``for`` loop over the bars with a position
state machine, costs per fill and funding per bar. Both sides must agree on the
trades and P&L (asserted) before anything is timed; the sweep baseline runs the
loop once per (entry, exit) cell, as a loop-based sweep would.

Times are CPU time of this process (``time.process_time``) on both sides: the
reference box is shared, and wall time mostly measures the neighbours.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from quant_platform.analytics.backtest import (
    BacktestParams,
    FundingSeries,
    PairBars,
    backtest,
    sweep,
)

OUT = Path(__file__).resolve().parent / "results" / "backtest.json"
N = 43_200
GRID = 20


def make_bars(n: int = N, seed: int = 7) -> PairBars:
    rng = np.random.default_rng(seed)
    lx = np.log(60_000.0) + np.cumsum(rng.normal(0, 5e-4, n))
    eps = rng.normal(0, 3e-4, n)
    s = np.zeros(n)
    for i in range(1, n):  # AR(1) spread, half-life ~ 70 bars
        s[i] = 0.99 * s[i - 1] + eps[i]
    ly = np.log(3_000.0) + 0.85 * (lx - lx[0]) + s
    t0 = 1_704_067_200_000  # 2024-01-01
    t = t0 + 60_000 * np.arange(1, n + 1)
    ft = np.arange(t0, t[-1] + 1, 8 * 3_600_000)
    return PairBars(
        t,
        np.exp(ly),
        np.exp(lx),
        rng.uniform(50, 500, n),
        rng.uniform(2, 20, n),
        FundingSeries(ft, rng.normal(1e-4, 1e-4, ft.size)),
        FundingSeries(ft, rng.normal(5e-5, 1e-4, ft.size)),
    ).checked()


def pandas_loop_backtest(bars: PairBars, p: BacktestParams) -> tuple[int, float, float]:
    """The baseline: rolling OLS/z-score in pandas, then one Python iteration per bar.

    Returns (trades, net P&L, Sharpe of the per-bar marked-to-market equity): the
    same figures the sweep heatmaps show.
    """
    df = pd.DataFrame({"t": bars.time_ms, "y": bars.y, "x": bars.x})
    ly, lx = np.log(df["y"]), np.log(df["x"])
    w = p.lookback
    beta = (ly.rolling(w).cov(lx) / lx.rolling(w).var()).shift(1)
    alpha = (ly.rolling(w).mean() - beta.shift(-1) * lx.rolling(w).mean()).shift(1)
    s = ly - beta * lx - alpha
    df["z"] = (s - s.rolling(w).mean()) / s.rolling(w).std()
    df["beta"] = beta
    fund_y = dict(zip(bars.funding_y.time_ms.tolist(), bars.funding_y.rate.tolist(), strict=True))
    fund_x = dict(zip(bars.funding_x.time_ms.tolist(), bars.funding_x.rate.tolist(), strict=True))
    fee, slip = p.fee_rate, p.slippage_bps / 1e4
    pos = 0
    qy = qx = ey = ex_ = pnl = 0.0
    prev_z = prev_y = prev_x = math.nan
    trades, net_total = 0, 0.0
    equity, eq = [], p.equity_base
    last = len(df) - 1
    for i, row in enumerate(df.itertuples(index=False)):
        z = row.z
        if pos != 0:  # mark the position held since the previous close
            eq += qy * (row.y - prev_y) + qx * (row.x - prev_x)
        if pos == 0:
            if i < last and not math.isnan(row.beta) and not math.isnan(z):
                side = 0
                if prev_z > -p.entry and z <= -p.entry:
                    side = 1
                elif prev_z < p.entry and z >= p.entry:
                    side = -1
                if side:
                    pos = side
                    qy = side * p.notional / row.y
                    qx = -side * p.notional / row.x
                    pnl = -(abs(qy) * row.y + abs(qx) * row.x) * (fee + slip)
                    eq += pnl
                    ey, ex_ = row.y, row.x
        else:
            out = (pos == 1 and z >= -p.exit) or (pos == -1 and z <= p.exit)
            if out or i == last:
                cost = (abs(qy) * row.y + abs(qx) * row.x) * (fee + slip)
                pnl += qy * (row.y - ey) + qx * (row.x - ex_) - cost
                eq -= cost
                trades += 1
                net_total += pnl
                pos = 0
        # funding times fall on bar closes here (8 h marks on a 1-minute grid):
        # whoever holds a position after this close pays/receives it
        if pos != 0 and row.t in fund_y:
            paid = qy * row.y * fund_y[row.t] + qx * row.x * fund_x[row.t]
            pnl -= paid
            eq -= paid
        equity.append(eq)
        prev_z, prev_y, prev_x = z, row.y, row.x
    r = pd.Series(equity).diff().dropna() / p.equity_base
    per_year = 365.25 * 86_400_000 / float(np.median(np.diff(bars.time_ms)))
    sharpe = r.mean() / r.std() * math.sqrt(per_year)
    return trades, net_total, sharpe


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    bars = make_bars()
    p = BacktestParams(lookback=120, entry=2.0, exit=0.5, slippage_bps=1.0)
    ours = backtest(bars, p)
    n_base, net_base, sharpe_base = pandas_loop_backtest(bars, p)
    assert abs(ours.metrics.sharpe - sharpe_base) <= 1e-6 * abs(sharpe_base)
    assert ours.metrics.n_trades == n_base > 20, (ours.metrics.n_trades, n_base)
    assert abs(ours.metrics.net_pnl - net_base) <= 1e-6 * max(1.0, abs(net_base)), (
        ours.metrics.net_pnl,
        net_base,
    )
    single_ours = _median_ms(lambda: backtest(bars, p), 15)
    single_base = _median_ms(lambda: pandas_loop_backtest(bars, p), 3)

    entries = np.round(np.linspace(1.0, 3.0, GRID), 3)
    exits = np.round(np.linspace(0.0, 0.95, GRID), 3)
    sw = sweep(bars, p, entries, exits)
    for ei, xi in ((0, 0), (GRID - 1, GRID // 2), (GRID // 2, 3)):
        cell = replace(p, entry=float(entries[ei]), exit=float(exits[xi]))
        nb, netb, shb = pandas_loop_backtest(bars, cell)
        assert sw.n_trades[0, ei, xi] == nb
        assert abs(sw.sharpe[0, ei, xi] - shb) <= 1e-6 * abs(shb)
        assert abs(sw.net_pnl[0, ei, xi] - netb) <= 1e-6 * max(1.0, abs(netb))

    t0 = time.process_time()
    sweep(bars, p, entries, exits)
    sweep_ours = (time.process_time() - t0) * 1e3
    t0 = time.process_time()
    for e in entries.tolist():
        for xv in exits.tolist():
            pandas_loop_backtest(bars, replace(p, entry=e, exit=xv))
    sweep_base = (time.process_time() - t0) * 1e3

    res = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "bars": N,
        "trades": ours.metrics.n_trades,
        "single": {
            "ours_ms": single_ours,
            "pandas_loop_ms": single_base,
            "speedup": single_base / single_ours,
            "target_ms": 100.0,
        },
        "sweep_20x20": {
            "ours_ms": sweep_ours,
            "pandas_loop_ms": sweep_base,
            "speedup": sweep_base / sweep_ours,
            "target_speedup": 20.0,
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
