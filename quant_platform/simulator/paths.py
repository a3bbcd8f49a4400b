"""Instrument specs of the simulated universe: price level, tick, lot step, typical size.

How prices move lives in `market` (the calibrated factor/OU model); this is only
what the venue's contract specs say, so prices and sizes round like the real ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class InstrumentSpec:
    """Level, exchange tick and lot step, and the median taker order size."""

    level: float
    tick: float
    step: float
    median_qty: float = 0.01


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "BTCUSDT": InstrumentSpec(60_000.0, 0.1, 0.001, 0.01),
    "ETHUSDT": InstrumentSpec(3_000.0, 0.01, 0.001, 0.2),
    "BNBUSDT": InstrumentSpec(600.0, 0.01, 0.01, 1.0),
    "SOLUSDT": InstrumentSpec(150.0, 0.01, 1.0, 3.0),
}
DEFAULT_SPEC = InstrumentSpec(100.0, 0.001, 0.1, 10.0)


def spec_for(symbol: str) -> InstrumentSpec:
    return INSTRUMENTS.get(symbol, DEFAULT_SPEC)


def decimals(step: float) -> int:
    """Digits after the point for a tick/lot step (0.01 → 2, 1 → 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))
