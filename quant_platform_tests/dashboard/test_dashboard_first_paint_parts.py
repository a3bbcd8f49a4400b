"""The pure parts of the live page's first paint: candle merging, the SVG, the default pair."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_platform.config import Settings
from quant_platform.simulator.market import cointegrated_pairs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboard"))
from components import static_candles  # noqa: E402
from views.controls import default_pair_index  # noqa: E402


def bars(symbol: str, n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "bucket": pd.date_range("2026-05-04", periods=n, freq="1min", tz="UTC"),
            "symbol": symbol,
            "open": open_,
            "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
            "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
            "close": close,
        }
    )


def test_merge_candles_keeps_each_groups_ohlc() -> None:
    b = bars("BTCUSDT", 10)
    m = static_candles.merge_candles(b, 4)  # groups of ceil(10 / 4) = 3: 3, 3, 3, 1
    assert len(m) == 4
    assert list(m["bucket"]) == list(b["bucket"].iloc[[0, 3, 6, 9]])
    assert list(m["open"]) == list(b["open"].iloc[[0, 3, 6, 9]])
    assert list(m["close"]) == list(b["close"].iloc[[2, 5, 8, 9]])
    assert m["high"].iloc[1] == b["high"].iloc[3:6].max()
    assert m["low"].iloc[2] == b["low"].iloc[6:9].min()
    assert static_candles.merge_candles(b, 10).equals(b[list(m.columns)])
    with pytest.raises(ValueError):
        static_candles.merge_candles(b, 0)


def test_svg_never_draws_more_candles_than_pixels() -> None:
    b = pd.concat([bars("ETHUSDT", 5000), bars("BTCUSDT", 5000, seed=2)])
    root = ET.fromstring(static_candles.candles_svg(b, ["ETHUSDT", "BTCUSDT"], "Prices"))
    ns = "{http://www.w3.org/2000/svg}"
    panels = [g for g in root.iter(f"{ns}g") if g.get("class") == "panel"]
    assert [p.get("data-symbol") for p in panels] == ["ETHUSDT", "BTCUSDT"]
    plot_px = static_candles.WIDTH - static_candles.LEFT - static_candles.RIGHT
    for p in panels:
        n = sum(path.get("d", "").count("M") for path in p if path.get("class") == "wick")
        assert 0 < n <= plot_px // 2
        lo, hi = float(p.get("data-lo")), float(p.get("data-hi"))
        leg = b[b["symbol"] == p.get("data-symbol")]
        assert lo < leg["low"].min() and hi > leg["high"].max()
    with pytest.raises(ValueError, match="no bars"):
        static_candles.candles_svg(b, ["SOLUSDT"], "Prices")


def test_default_pair_is_the_simulators_cointegrated_pair() -> None:
    assert cointegrated_pairs(["BTCUSDT", "ETHUSDT", "SOLUSDT"]) == [("ETHUSDT", "BTCUSDT")]
    assert cointegrated_pairs(["ETHUSDT", "SOLUSDT"]) == []  # its anchor is absent
    syms = ("SOLUSDT", "BNBUSDT", "ETHUSDT", "BTCUSDT")
    s = Settings(symbols=syms, feed="simulator")
    assert s.pair_list[default_pair_index(s)] == ("ETHUSDT", "BTCUSDT")
    s = Settings(symbols=syms, pairs=("SOLUSDT/BNBUSDT", "BTCUSDT/ETHUSDT"), feed="simulator")
    assert default_pair_index(s) == 1  # configured orientation kept: the daemon caches it
    assert default_pair_index(Settings(symbols=syms, feed="binance")) == 0
    assert default_pair_index(Settings(symbols=("SOLUSDT", "BNBUSDT"), feed="simulator")) == 0
