"""Synthetic cointegrated log-price paths: one common stochastic trend plus OU spreads.

log p_i(t) = log L_i + beta_i * W(t) + s_i(t) + shift_i, with W a random walk
(the shared crypto factor) and s_i an Ornstein-Uhlenbeck process, so every
pair is cointegrated with a known hedge ratio beta_i / beta_j and a
mean-reverting spread the analytics layer should recover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InstrumentSpec:
    """Level, exchange tick and lot step, and loading on the common trend."""

    level: float
    tick: float
    step: float
    beta: float = 1.0
    median_qty: float = 0.01


INSTRUMENTS: dict[str, InstrumentSpec] = {
    "BTCUSDT": InstrumentSpec(60_000.0, 0.1, 0.001, 1.0, 0.01),
    "ETHUSDT": InstrumentSpec(3_000.0, 0.01, 0.001, 1.2, 0.2),
    "BNBUSDT": InstrumentSpec(600.0, 0.01, 0.01, 0.8, 1.0),
    "SOLUSDT": InstrumentSpec(150.0, 0.01, 1.0, 1.4, 3.0),
}
DEFAULT_SPEC = InstrumentSpec(100.0, 0.001, 0.1, 1.0, 10.0)


def spec_for(symbol: str) -> InstrumentSpec:
    return INSTRUMENTS.get(symbol, DEFAULT_SPEC)


def decimals(step: float) -> int:
    """Digits after the point for a tick/lot step (0.01 → 2, 1 → 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


class CointegratedPaths:
    """Advances all symbols' log prices together; `price(symbol)` is tick-rounded.

    Volatilities are per sqrt(second): `trend_vol` ~ 50 % a year for the common
    factor, OU spreads with half-life `half_life_s` and stationary std `spread_std`.
    """

    def __init__(
        self,
        symbols: list[str],
        rng: np.random.Generator,
        *,
        trend_vol: float = 0.5 / math.sqrt(365 * 24 * 3600),
        half_life_s: float = 300.0,
        spread_std: float = 0.002,
    ) -> None:
        self.symbols = list(symbols)
        self.rng = rng
        self.specs = {s: spec_for(s) for s in self.symbols}
        self.trend_vol = trend_vol
        self.theta = math.log(2) / half_life_s
        self.spread_std = spread_std
        self.trend = 0.0
        self.spread = {s: 0.0 for s in self.symbols}
        self.shift = {s: 0.0 for s in self.symbols}
        self._dec = {s: decimals(sp.tick) for s, sp in self.specs.items()}

    def advance(self, dt_s: float) -> None:
        """Move every path forward by `dt_s` seconds (exact OU transition)."""
        if dt_s <= 0:
            return
        n = self.rng.standard_normal(len(self.symbols) + 1)
        self.trend += self.trend_vol * math.sqrt(dt_s) * float(n[0])
        decay = math.exp(-self.theta * dt_s)
        sd = self.spread_std * math.sqrt(1.0 - decay * decay)
        for i, s in enumerate(self.symbols):
            self.spread[s] = self.spread[s] * decay + sd * float(n[i + 1])

    def log_price(self, symbol: str) -> float:
        sp = self.specs[symbol]
        return math.log(sp.level) + sp.beta * self.trend + self.spread[symbol] + self.shift[symbol]

    def price(self, symbol: str) -> float:
        """Current price rounded to the symbol's tick (never below one tick)."""
        tick = self.specs[symbol].tick
        return round(
            max(tick, round(math.exp(self.log_price(symbol)) / tick) * tick), self._dec[symbol]
        )

    def price_str(self, price: float, symbol: str) -> str:
        return f"{price:.{self._dec[symbol]}f}"

    def dislocate(self, symbol: str, pct: float) -> None:
        """Shift one symbol's level by `pct` percent (e.g. 2.0 → +2 %); raises KeyError if unknown."""
        if symbol not in self.shift:
            raise KeyError(symbol)
        self.shift[symbol] += math.log1p(pct / 100.0)
