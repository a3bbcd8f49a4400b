"""`qp backtest` on bars and funding in the real database equals the library on the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_platform.analytics.backtest import BacktestParams, FundingSeries, PairBars, backtest
from quant_platform.queries.backtest import load_pair_bars, parse_pair
from quant_platform_tests.pair_seed import START, START_MS, pair_closes, seed_pair

QP = str(Path(sys.executable).parent / "qp")


def _qp(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QP_DATABASE_URL": database_url}
    return subprocess.run([QP, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_json_equals_library_on_the_seeded_pair(db, database_url, tmp_path: Path):
    seed_pair(db, n=2880)
    end = START + timedelta(days=2)
    trades_csv = tmp_path / "trades.csv"
    proc = _qp(
        database_url,
        "backtest",
        "--pair",
        "ETHUSDT/BTCUSDT",
        "--from",
        START.isoformat(),
        "--to",
        end.isoformat(),
        "--entry",
        "1.8",
        "--exit",
        "0.3",
        "--lookback",
        "60",
        "--json",
        "--trades-csv",
        str(trades_csv),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # the same pair built by hand from the seeded closes: bar close time = bucket + 1 min
    cy, cx = pair_closes(2880)
    t = START_MS + 60_000 * (np.arange(2880) + 1)
    ft = START_MS + 8 * 3_600_000 * np.arange(7)
    fy = FundingSeries(ft, np.array([1e-4 * (1 + k % 3) for k in range(7)]))
    fx = FundingSeries(ft, np.array([-5e-5 * (1 + k % 2) for k in range(7)]))
    ref = backtest(
        PairBars(t, cy, cx, np.full(2880, 40.0), np.full(2880, 2.0), fy, fx),
        BacktestParams(entry=1.8, exit=0.3, lookback=60, slippage_bps=1.0),
    ).metrics
    assert out["pair"] == "ETHUSDT/BTCUSDT" and out["n_trades"] == ref.n_trades > 10
    assert out["net_pnl"] == pytest.approx(ref.net_pnl, abs=1e-6)
    assert out["costs"]["funding"] == pytest.approx(ref.funding, abs=1e-9) and ref.funding != 0
    assert out["costs"]["fees"] == pytest.approx(ref.fees)
    assert out["costs"]["total"] == pytest.approx(ref.fees + ref.slippage + ref.funding)
    assert out["sharpe"] == pytest.approx(ref.sharpe)
    trades = pd.read_csv(trades_csv)
    assert len(trades) == ref.n_trades
    assert trades["net_pnl"].sum() == pytest.approx(ref.net_pnl, abs=1e-6)


def test_cli_says_what_is_missing(db, database_url):
    proc = _qp(
        database_url,
        "backtest",
        "--pair",
        "ETHUSDT/BTCUSDT",
        "--from",
        "2020-01-01",
        "--to",
        "2020-01-02",
    )
    assert proc.returncode == 1
    assert (
        "no 1m bars for ETHUSDT/BTCUSDT between 2020-01-01 00:00 and 2020-01-02 00:00"
        in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    bad = _qp(database_url, "backtest", "--pair", "ETHUSDT-BTCUSDT")
    assert bad.returncode == 2 and "--pair: 'ETHUSDT-BTCUSDT' is not a pair" in bad.stderr
    bad = _qp(database_url, "backtest", "--pair", "ETHUSDT/BTCUSDT", "--exit", "3")
    assert bad.returncode == 2 and "exit: must be in [0, entry=2.0)" in bad.stderr


def test_loader_joins_legs_on_common_bars(db):
    seed_pair(db, n=100)
    db.execute(
        "DELETE FROM ohlcv WHERE symbol = 'BTCUSDT' AND bucket = %s",
        (START + timedelta(minutes=5),),
    )
    bars = load_pair_bars(
        db, parse_pair("ethusdt/btcusdt"), "1m", START, START + timedelta(hours=2)
    )
    assert bars.y.size == 99
    assert START_MS + 6 * 60_000 not in bars.time_ms.tolist()  # bar 5 (closing at 00:06) is gone
    assert bars.funding_y.time_ms.tolist() == [START_MS]


def test_cli_walk_forward_reports_in_and_out_of_sample(db, database_url):
    seed_pair(db, n=2880)
    proc = _qp(
        database_url,
        "backtest",
        "--pair",
        "ETHUSDT/BTCUSDT",
        "--from",
        START.isoformat(),
        "--to",
        (START + timedelta(days=2)).isoformat(),
        "--lookback",
        "60",
        "--sweep-entry",
        "1.5,2",
        "--sweep-exit",
        "0,0.5",
        "--walk-forward",
        "3",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["sweep"]["sharpe"]) == 2 and len(out["sweep"]["sharpe"][0]) == 2
    folds = out["walk_forward"]
    assert len(folds) == 2
    for f in folds:
        assert (f["entry"], f["exit"]) in {(1.5, 0.0), (1.5, 0.5), (2.0, 0.0), (2.0, 0.5)}
        assert f["in_sample_to"] < f["out_of_sample_to"]
        assert "sharpe_in_sample" in f and "sharpe_out_of_sample" in f
