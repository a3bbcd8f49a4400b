"""Trade arrivals: Poisson with bursts, log-normal sizes, buyer/maker mix, multi-fill orders.

Everything draws from one seeded numpy Generator so a run is reproducible.
Bursts are a two-state regime (calm/burst) switched per arrival, which gives
the clustered activity real tapes show around news and liquidations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quant_platform.simulator.paths import decimals, spec_for


@dataclass
class ArrivalConfig:
    """`rate` is taker orders per second across all symbols in the calm regime."""

    rate: float = 20.0
    burst_mult: float = 5.0
    burst_enter_p: float = 0.01
    burst_exit_p: float = 0.05
    size_sigma: float = 1.0
    buyer_maker_p: float = 0.5
    side_persistence: float = 0.3
    max_fills: int = 3


class ArrivalProcess:
    """Draws inter-arrival gaps, the symbol, side, fill count and sizes of each taker order."""

    def __init__(
        self, symbols: list[str], rng: np.random.Generator, config: ArrivalConfig | None = None
    ) -> None:
        if not symbols:
            raise ValueError("at least one symbol")
        self.cfg = config or ArrivalConfig()
        if self.cfg.rate <= 0:
            raise ValueError("rate must be > 0")
        self.symbols = list(symbols)
        self.rng = rng
        # BTC trades most, then ETH, ...: weights falling with rank.
        w = np.array([1.0 / (i + 1) for i in range(len(symbols))])
        self.weights = w / w.sum()
        self.burst = False
        self._last_side: dict[str, bool] = {}
        self._steps = {s: spec_for(s).step for s in symbols}
        self._medians = {s: spec_for(s).median_qty for s in symbols}
        self._qdec = {s: decimals(spec_for(s).step) for s in symbols}

    def next_gap_s(self) -> float:
        """Seconds until the next taker order (switching regimes as we go)."""
        p = self.cfg.burst_exit_p if self.burst else self.cfg.burst_enter_p
        if self.rng.random() < p:
            self.burst = not self.burst
        rate = self.cfg.rate * (self.cfg.burst_mult if self.burst else 1.0)
        return float(self.rng.exponential(1.0 / rate))

    def symbol(self) -> str:
        return self.symbols[int(self.rng.choice(len(self.symbols), p=self.weights))]

    def buyer_is_maker(self, symbol: str) -> bool:
        last = self._last_side.get(symbol)
        if last is not None and self.rng.random() < self.cfg.side_persistence:
            return last
        side = bool(self.rng.random() < self.cfg.buyer_maker_p)
        self._last_side[symbol] = side
        return side

    def fills(self) -> int:
        """Number of fills (trade ids) one taker order makes: 1..max_fills, mostly 1."""
        if self.cfg.max_fills <= 1:
            return 1
        return int(min(self.cfg.max_fills, 1 + self.rng.geometric(0.6) - 1))

    def mean_fills(self) -> float:
        """Expected fills per order (geometric(0.6) capped at `max_fills`)."""
        k = max(1, self.cfg.max_fills)
        probs = [0.6 * 0.4 ** (i - 1) for i in range(1, k)]
        return sum(i * p for i, p in enumerate(probs, 1)) + k * (1.0 - sum(probs))

    def rate_factor(self) -> float:
        """Long-run order rate over the calm rate, given the burst regime switching."""
        c = self.cfg
        burst_share = c.burst_enter_p / (c.burst_enter_p + c.burst_exit_p)
        return 1.0 / ((1 - burst_share) + burst_share / c.burst_mult)

    def qty(self, symbol: str) -> float:
        """Log-normal size rounded to the lot step (at least one step)."""
        step = self._steps[symbol]
        raw = self._medians[symbol] * math.exp(
            self.cfg.size_sigma * float(self.rng.standard_normal())
        )
        return round(max(1, round(raw / step)) * step, self._qdec[symbol])

    def qty_str(self, qty: float, symbol: str) -> str:
        return f"{qty:.{self._qdec[symbol]}f}"


@dataclass(slots=True)
class SimFill:
    """One venue trade (an `@trade` event); `time_ms` is stamped when it is emitted."""

    symbol: str
    trade_id: int
    price: str
    qty: str
    buyer_is_maker: bool
    agg_id: int
    time_ms: int = 0
    fill_type: str = "MARKET"


@dataclass(slots=True)
class SimAgg:
    """One aggregate trade (an `@aggTrade` event) covering fills `first_id..last_id`."""

    symbol: str
    agg_id: int
    price: str
    qty: str
    first_id: int
    last_id: int
    buyer_is_maker: bool
    time_ms: int = 0


@dataclass(slots=True)
class SimOrder:
    """A taker order: emitted `offset_s` after the source started; its fills and aggregate."""

    offset_s: float
    fills: list[SimFill]
    agg: SimAgg


class SyntheticSource:
    """Endless stream of taker orders on cointegrated paths; ids consecutive per symbol.

    `rate` is the long-run trades (fills) per second across all symbols.

    `remaining` (if set) caps the number of fills (trade ids) ever produced.
    """

    def __init__(
        self,
        symbols: list[str],
        *,
        rate: float = 20.0,
        seed: int = 7,
        total_trades: int | None = None,
        first_id: int = 1_000_000,
        config: ArrivalConfig | None = None,
    ) -> None:
        from quant_platform.simulator.paths import CointegratedPaths

        rng = np.random.default_rng(seed)
        cfg = config or ArrivalConfig()
        cfg.rate = rate
        self.arrivals = ArrivalProcess(symbols, rng, cfg)
        # `rate` is trades/s: scale the calm order rate by fills per order and bursts.
        cfg.rate = rate / (self.arrivals.mean_fills() * self.arrivals.rate_factor())
        self.paths = CointegratedPaths(symbols, rng)
        self.next_trade_id = {s: first_id for s in symbols}
        self.next_agg_id = {s: first_id // 2 for s in symbols}
        self.remaining = total_trades
        self.t = 0.0

    def __iter__(self) -> SyntheticSource:
        return self

    def __next__(self) -> SimOrder:
        if self.remaining is not None and self.remaining <= 0:
            raise StopIteration
        gap = self.arrivals.next_gap_s()
        self.t += gap
        self.paths.advance(gap)
        a = self.arrivals
        symbol = a.symbol()
        n = a.fills()
        if self.remaining is not None:
            n = min(n, self.remaining)
            self.remaining -= n
        price = self.paths.price(symbol)
        p = self.paths.price_str(price, symbol)
        m = a.buyer_is_maker(symbol)
        agg_id = self.next_agg_id[symbol]
        self.next_agg_id[symbol] = agg_id + 1
        first = self.next_trade_id[symbol]
        self.next_trade_id[symbol] = first + n
        qtys = [a.qty(symbol) for _ in range(n)]
        fills = [
            SimFill(symbol, first + i, p, a.qty_str(q, symbol), m, agg_id)
            for i, q in enumerate(qtys)
        ]
        agg = SimAgg(symbol, agg_id, p, a.qty_str(sum(qtys), symbol), first, first + n - 1, m)
        return SimOrder(self.t, fills, agg)

    def dislocate(self, symbol: str, pct: float) -> None:
        self.paths.dislocate(symbol, pct)
