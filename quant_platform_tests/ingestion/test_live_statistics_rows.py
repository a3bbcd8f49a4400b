"""The live engine's stored rows carry the same cointegration p-value as its live tile.

Fed from the calibrated simulator's own path (ETH cointegrated with BTC), computed by
the real LiveAnalytics, persisted into the real TimescaleDB.
"""

from __future__ import annotations

import math
import time

import psycopg

from quant_platform.config import Settings
from quant_platform.ingestion.live_analytics import LiveAnalytics
from quant_platform.simulator.arrivals import SyntheticSource


def test_persisted_live_row_has_the_tiles_eg_pvalue(
    settings: Settings, db: psycopg.Connection
) -> None:
    s = settings.model_copy(
        update={"symbols": ("BTCUSDT", "ETHUSDT"), "pairs": ("ETHUSDT/BTCUSDT",)}
    )
    live = LiveAnalytics(s)
    src = SyntheticSource(list(s.symbols), rate=20.0, seed=11, stop_s=1200.0)
    t0_ms = int(time.time() * 1000) - 1_200_000
    for order in src:
        for f in order.fills:
            live.on_trade(f.symbol, t0_ms + int(order.offset_s * 1000), float(f.price), 1.0, False)
    snap = live.compute()
    tile = snap["ETHUSDT/BTCUSDT"]["coint_pvalue"]
    assert math.isfinite(tile)
    assert live.persist(s.database_url) == 1
    stored = db.execute(
        "SELECT eg_pvalue FROM pair_statistics WHERE source = 'live'"
        " AND symbol_y = 'ETHUSDT' AND symbol_x = 'BTCUSDT'"
    ).fetchone()
    assert stored is not None and stored[0] == tile
