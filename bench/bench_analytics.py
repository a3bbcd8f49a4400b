"""Analytics benchmark: our implementations vs statsmodels / pandas, side by side.

Run: .venv/bin/python bench/bench_analytics.py
Writes bench/results/analytics.json and prints a compact table. Every comparison
first asserts both sides give the same numbers, then times the median of repeats.
"""

from __future__ import annotations

import itertools
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.tsa.stattools import adfuller

from quant_platform.analytics import adf, pair_metrics, rolling_corr, zscore

OUT = Path(__file__).resolve().parent / "results" / "analytics.json"


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench_adf(rng: np.random.Generator) -> dict:
    x = np.log(60000.0) + np.cumsum(rng.normal(0, 1e-4, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels 0.15 result_object FutureWarning
        ref = adfuller(x, autolag="AIC")
        ours = adf(x, autolag="AIC")
        assert ours.usedlag == ref[2] and ours.nobs == ref[3]
        assert abs(ours.stat - ref[0]) <= 1e-8 * abs(ref[0])
        assert abs(ours.pvalue - ref[1]) <= 1e-6
        t_ref = _median_ms(lambda: adfuller(x, autolag="AIC"), 5)
    t_ours = _median_ms(lambda: adf(x, autolag="AIC"), 15)
    return {
        "n": x.size,
        "stat": ours.stat,
        "usedlag": ours.usedlag,
        "ours_ms": t_ours,
        "statsmodels_ms": t_ref,
        "speedup": t_ref / t_ours,
    }


def _assert_close(a: np.ndarray, b: np.ndarray, atol: float) -> None:
    assert np.array_equal(np.isnan(a), np.isnan(b))
    m = ~np.isnan(a)
    assert np.max(np.abs(a[m] - b[m])) <= atol, np.max(np.abs(a[m] - b[m]))


def bench_rolling(rng: np.random.Generator, n: int = 1_000_000, w: int = 1000) -> dict:
    x = 60000.0 + np.cumsum(rng.normal(0, 0.5, n))
    y = 3000.0 + 0.05 * (x - 60000.0) + np.cumsum(rng.normal(0, 0.05, n))
    sx, sy = pd.Series(x), pd.Series(y)

    def pd_z() -> np.ndarray:
        r = sx.rolling(w)
        return ((sx - r.mean()) / r.std()).to_numpy()

    def pd_c() -> np.ndarray:
        return sx.rolling(w).corr(sy).to_numpy()

    oz, pz, oc, pc = zscore(x, w), pd_z(), rolling_corr(x, y, w), pd_c()
    # pandas' online add/remove drifts by ~1e-6 in z over 1M points; we stay at ~1e-12
    _assert_close(oz, pz, 1e-4)
    _assert_close(oc, pc, 1e-6)
    err = {"zscore_ours": 0.0, "zscore_pandas": 0.0, "corr_ours": 0.0, "corr_pandas": 0.0}
    for i in rng.integers(w, n, 200):  # exact two-pass reference on sampled windows
        a, b = x[i - w + 1 : i + 1], y[i - w + 1 : i + 1]
        ac, bc = a - a.mean(), b - b.mean()
        z = ac[-1] / np.sqrt(ac @ ac / (w - 1))
        c = ac @ bc / np.sqrt((ac @ ac) * (bc @ bc))
        err["zscore_ours"] = max(err["zscore_ours"], abs(oz[i] - z))
        err["zscore_pandas"] = max(err["zscore_pandas"], abs(pz[i] - z))
        err["corr_ours"] = max(err["corr_ours"], abs(oc[i] - c))
        err["corr_pandas"] = max(err["corr_pandas"], abs(pc[i] - c))
    out: dict = {"n": n, "window": w, "max_abs_err_vs_two_pass": err}
    for name, ours, ref in (
        ("zscore", lambda: zscore(x, w), pd_z),
        ("corr", lambda: rolling_corr(x, y, w), pd_c),
    ):
        t_o, t_p = _median_ms(ours, 7), _median_ms(ref, 7)
        out[name] = {"ours_ms": t_o, "pandas_ms": t_p, "speedup": t_p / t_o}
    return out


def bench_live_cycle(rng: np.random.Generator, n: int = 3600) -> dict:
    base = np.log([60000.0, 3000.0, 150.0, 0.6])
    common = np.cumsum(rng.normal(0, 1e-4, n))
    own = np.cumsum(rng.normal(0, 5e-5, (n, 4)), axis=0)
    prices = np.exp(base + common[:, None] * [1.0, 0.9, 1.2, 1.1] + own)
    pairs = list(itertools.combinations(range(4), 2))

    def cycle() -> list:
        return [pair_metrics(prices[:, i], prices[:, j]) for i, j in pairs]

    ms = _median_ms(cycle, 15)
    return {
        "symbols": 4,
        "pairs": len(pairs),
        "window": n,
        "ms_per_cycle": ms,
        "ms_per_pair": ms / len(pairs),
    }


def main() -> None:
    rng = np.random.default_rng(20240601)
    res = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "adf_vs_adfuller": bench_adf(rng),
        "rolling_vs_pandas": bench_rolling(rng),
        "live_cycle": bench_live_cycle(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    a, r, c = res["adf_vs_adfuller"], res["rolling_vs_pandas"], res["live_cycle"]
    rows = [
        ("adf AIC, 10k pts", a["ours_ms"], a["statsmodels_ms"], "adfuller"),
        ("rolling zscore, 1M", r["zscore"]["ours_ms"], r["zscore"]["pandas_ms"], "pandas"),
        ("rolling corr, 1M", r["corr"]["ours_ms"], r["corr"]["pandas_ms"], "pandas"),
    ]
    print(f"{'benchmark':<22}{'ours ms':>10}{'ref ms':>10}{'speedup':>9}  ref")
    for name, ours, ref, who in rows:
        print(f"{name:<22}{ours:>10.2f}{ref:>10.2f}{ref / ours:>8.1f}x  {who}")
    print(f"{'live cycle 6 pairs':<22}{c['ms_per_cycle']:>10.2f}{'':>10}{'':>9}  (3600-pt windows)")
    e = r["max_abs_err_vs_two_pass"]
    print(
        f"max |err| vs exact two-pass: zscore ours {e['zscore_ours']:.1e} "
        f"pandas {e['zscore_pandas']:.1e}; "
        f"corr ours {e['corr_ours']:.1e} pandas {e['corr_pandas']:.1e}"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
