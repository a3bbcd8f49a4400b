"""Live analytics cycle: `LiveAnalytics.compute()` vs the same pair metrics with statsmodels.

Run: .venv/bin/python bench/bench_live_cycle.py [--repeats 15]
Feeds 3,600 one-second bars for the 4 default symbols (cointegrated random walks)
through `LiveAnalytics.on_trade`, then times, in one process:
  ours      one full `compute()` cycle: 6 pairs (hedge, spread, z, corr, ADF(AIC), coint,
            half-life) AND the per-symbol metrics
  baseline  per pair with statsmodels on the same aligned log closes: OLS hedge
            (sm.OLS), adfuller(spread, autolag="AIC"), coint(y, x) (its default
            autolag="aic"); no per-symbol work, so the baseline does less
Reports medians and baseline/ours. Writes bench/results/live_cycle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.stattools import adfuller, coint

from quant_platform.config import load_settings
from quant_platform.ingestion.live_analytics import LiveAnalytics
from quant_platform.ingestion.live_bars import align_closes

OUT = Path(__file__).resolve().parent / "results" / "live_cycle.json"
BARS = 3600


def _median_ms(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def build(seed: int = 3) -> LiveAnalytics:
    settings = load_settings(analytics_window_s=BARS, analytics_bar_s=1)
    live = LiveAnalytics(settings)
    rng = np.random.default_rng(seed)
    common = np.cumsum(rng.normal(0, 2e-4, BARS))
    base = {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "BNBUSDT": 600.0, "SOLUSDT": 150.0}
    t0_ms = (int(time.time()) - BARS) * 1000
    for k, sym in enumerate(settings.symbols):
        beta = 0.8 + 0.1 * k
        noise = np.zeros(BARS)
        for i in range(1, BARS):  # mean-reverting idiosyncratic part → cointegrated legs
            noise[i] = 0.97 * noise[i - 1] + rng.normal(0, 1e-4)
        prices = base.get(sym, 100.0) * np.exp(beta * common + noise)
        for i in range(BARS):
            live.on_trade(
                sym, t0_ms + i * 1000 + 500, float(prices[i]), 0.01 + (i % 7) * 0.001, bool(i & 1)
            )
    return live


def statsmodels_cycle(live: LiveAnalytics) -> dict[str, tuple[float, float, float]]:
    s = live.settings
    arrays = {sym: b.arrays() for sym, b in live.bars.items()}
    _, closes = align_closes(arrays, s.analytics_bar_s, live.window, ffill_limit=60)
    out = {}
    for y, x in s.pair_list:
        ok = ~(np.isnan(closes[y]) | np.isnan(closes[x]))
        ly, lx = np.log(closes[y][ok]), np.log(closes[x][ok])
        fit = sm.OLS(ly, sm.add_constant(lx)).fit()
        spread = ly - fit.params[1] * lx - fit.params[0]
        a = adfuller(spread, autolag="AIC")
        c = coint(ly, lx)
        out[f"{y}/{x}"] = (float(fit.params[1]), float(a[1]), float(c[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    live = build()
    snap = live.compute()
    pairs = [k for k in snap if "/" in k]
    assert len(pairs) == 6, snap.keys()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = statsmodels_cycle(live)
        # same hedge ratio (ours fits on all but the holdout bars, so close, not identical)
        for p in pairs:
            assert abs(snap[p]["hedge_ratio"] - ref[p][0]) < 0.05 * abs(ref[p][0]) + 1e-3, (
                p,
                snap[p],
                ref[p],
            )
        sm_ms = _median_ms(lambda: statsmodels_cycle(live), max(3, a.repeats // 3))
    ours_ms = _median_ms(live.compute, a.repeats)
    ours, base = statistics.median(ours_ms), statistics.median(sm_ms)
    res = {
        "pairs": len(pairs),
        "symbols": len(live.settings.symbols),
        "bars": BARS,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "ours_cycle_median_ms": round(ours, 2),
        "statsmodels_pairs_median_ms": round(base, 2),
        "speedup": round(base / ours, 1),
        "ours_includes_symbol_metrics": True,
        "ours_runs_ms": [round(t, 2) for t in ours_ms],
        "statsmodels_runs_ms": [round(t, 2) for t in sm_ms],
        "hedge_ratio_ours_vs_statsmodels": {p: [snap[p]["hedge_ratio"], ref[p][0]] for p in pairs},
        "command": ".venv/bin/python bench/bench_live_cycle.py",
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(
        f"live cycle ours {ours:.1f} ms | statsmodels (pairs only) {base:.1f} ms | "
        f"{res['speedup']}x"
    )


if __name__ == "__main__":
    main()
