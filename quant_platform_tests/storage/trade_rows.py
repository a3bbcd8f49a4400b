"""Synthetic trades the storage tests write: one place, so every sink test writes the same rows."""

from __future__ import annotations

import time

from quant_platform.domain import Trade

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def trades(n: int, start: int = 1, symbol: str = "BTCUSDT") -> list[Trade]:
    """`n` trades with ids start.. one millisecond apart, varied size and side."""
    return [
        Trade(
            symbol,
            i,
            60000.0 + i / 100,
            0.001 * (1 + i % 7),
            T0 + i,
            T0 + i,
            i % 2 == 0,
            time.time_ns(),
        )
        for i in range(start, start + n)
    ]
