"""TickBuffer: last N per symbol, newest-n reads, numpy columns, snapshot, counts."""

from __future__ import annotations

import time

import numpy as np
from prometheus_client import CollectorRegistry

from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.tick_buffer import LATENCY_SAMPLE_EVERY, TickBuffer

T0 = 1_767_225_600_000


def trade(i: int, symbol: str = "BTCUSDT") -> Trade:
    return Trade(
        symbol,
        i,
        60000.0 + i / 100,
        0.001 * (1 + i % 7),
        T0 + i,
        T0 + i,
        i % 3 == 0,
        time.time_ns(),
    )


def test_keeps_the_last_n_per_symbol_oldest_first() -> None:
    buf = TickBuffer(maxlen=1000)
    for i in range(1, 2501):
        buf.append(trade(i))
        if i % 5 == 0:
            buf.append(trade(i, "ETHUSDT"))
    assert [t.trade_id for t in buf.latest("BTCUSDT")] == list(range(1501, 2501))
    assert [t.trade_id for t in buf.latest("BTCUSDT", 3)] == [2498, 2499, 2500]
    assert buf.latest("BTCUSDT", 0) == []
    assert len(buf.latest("BTCUSDT", 5000)) == 1000
    assert buf.latest("SOLUSDT") == [] and buf.last("SOLUSDT") is None
    assert buf.last("ETHUSDT").trade_id == 2500  # type: ignore[union-attr]
    assert buf.counts() == {"BTCUSDT": 1000, "ETHUSDT": 500}
    assert buf.count("ETHUSDT") == 500 and len(buf) == 1500
    assert buf.appended == 3000 and buf.symbols == ["BTCUSDT", "ETHUSDT"]


def test_arrays_and_snapshot_columns() -> None:
    buf = TickBuffer(maxlen=100)
    for i in range(1, 151):
        buf.append(trade(i))
    cols = buf.arrays("BTCUSDT")
    assert cols["trade_time_ms"].dtype == np.int64 and cols["price"].dtype == np.float64
    assert cols["qty"].dtype == np.float64 and cols["buyer_is_maker"].dtype == np.bool_
    assert cols["trade_time_ms"].tolist() == [T0 + i for i in range(51, 151)]
    assert cols["price"][-1] == trade(150).price
    assert cols["buyer_is_maker"].tolist() == [i % 3 == 0 for i in range(51, 151)]
    last10 = buf.arrays("BTCUSDT", 10)
    assert last10["trade_time_ms"].tolist() == [T0 + i for i in range(141, 151)]
    empty = buf.arrays("NOPE")
    assert all(a.size == 0 for a in empty.values())
    assert buf.recent_arrays("BTCUSDT")["price"].shape == (100,)

    snap = buf.snapshot()
    buf.append(trade(151))  # a later append never changes a snapshot already taken
    assert snap["BTCUSDT"]["trade_time_ms"][-1] == T0 + 150
    assert set(snap) == {"BTCUSDT"}


def test_metrics_sample_latency() -> None:
    reg = CollectorRegistry()
    buf = TickBuffer(maxlen=10, metrics=StorageMetrics(reg))
    for i in range(LATENCY_SAMPLE_EVERY * 2):
        buf.append(trade(i))
    n = reg.get_sample_value("qp_sink_latency_seconds_count", {"sink": "buffer"})
    assert n == 2
    assert reg.get_sample_value("qp_tick_buffer_rows_total") == LATENCY_SAMPLE_EVERY * 2
