"""Synthetic trades the storage tests write: one place, so every sink test writes the same rows."""

from __future__ import annotations

import time

from quant_platform.domain import FillType, Trade

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def trades(
    n: int,
    start: int = 1,
    symbol: str = "BTCUSDT",
    *,
    event_lag_ms: int = 0,
    receive_ns: int | None = None,
    kind: str = "trade",
    fill_type: FillType = FillType.MARKET,
) -> list[Trade]:
    """`n` trades with ids start.. one millisecond apart, varied size and side.

    `event_lag_ms` puts the event time after the trade time; `receive_ns` fixes the
    receive times (`receive_ns + id * 1000`) for tests that read them back, else now.
    """
    return [
        Trade(
            symbol,
            i,
            60000.0 + i / 100,
            0.001 * (1 + i % 7),
            T0 + i,
            T0 + i + event_lag_ms,
            i % 2 == 0,
            time.time_ns() if receive_ns is None else receive_ns + i * 1000,
            kind,
            fill_type,
        )
        for i in range(start, start + n)
    ]
