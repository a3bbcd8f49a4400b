"""Trade arrivals: self-exciting (Hawkes) order flow, heavy-tailed sizes, multi-fill orders.

Everything draws from one seeded numpy Generator so a run is reproducible.
Orders arrive as a Hawkes process with an exponential kernel: each order lifts
the intensity by `branching / decay_s`, which decays with time constant `decay_s`,
so activity comes in bursts (liquidation cascades, news) as real tapes show.
The baseline follows the market model's volatility (busier when volatile).
Sizes are log-normal in the body with a Pareto tail (`tail_p` of orders are
multiplied by a Pareto(`tail_alpha`) factor): most trades are small, a few huge.
Prices are the model's mid rounded to the tick on the taker's side (bid-ask bounce).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quant_platform.simulator.market import MarketModel
from quant_platform.simulator.paths import decimals, spec_for


@dataclass
class ArrivalConfig:
    """`rate` is taker orders per second across all symbols (long-run average)."""

    rate: float = 20.0
    branching: float = 0.5
    decay_s: float = 2.0
    vol_elasticity: float = 1.0
    size_sigma: float = 1.0
    tail_p: float = 0.03
    tail_alpha: float = 1.5
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
        if not 0.0 <= self.cfg.branching < 1.0:
            raise ValueError("branching must be in [0, 1) for a stationary Hawkes process")
        self.symbols = list(symbols)
        self.rng = rng
        # BTC trades most, then ETH, ...: weights falling with rank.
        w = np.array([1.0 / (i + 1) for i in range(len(symbols))])
        self.weights = w / w.sum()
        self.excitation = 0.0
        self._last_side: dict[str, bool] = {}
        self._steps = {s: spec_for(s).step for s in symbols}
        self._medians = {s: spec_for(s).median_qty for s in symbols}
        self._qdec = {s: decimals(spec_for(s).step) for s in symbols}

    def baseline(self, vol_mult: float = 1.0) -> float:
        """Immigrant (non-excited) order rate; the long-run rate is this / (1 - branching)."""
        c = self.cfg
        return c.rate * (1.0 - c.branching) * vol_mult**c.vol_elasticity

    def next_gap_s(self, vol_mult: float = 1.0) -> float:
        """Seconds until the next taker order (Ogata thinning: intensity only decays between)."""
        c = self.cfg
        mu = self.baseline(vol_mult)
        gap = 0.0
        while True:
            bound = mu + self.excitation
            w = float(self.rng.exponential(1.0 / bound))
            gap += w
            self.excitation *= math.exp(-w / c.decay_s)
            if self.rng.random() * bound <= mu + self.excitation:
                self.excitation += c.branching / c.decay_s
                return gap

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

    def qty(self, symbol: str) -> float:
        """Log-normal body, Pareto tail, rounded to the lot step (at least one step)."""
        step = self._steps[symbol]
        c = self.cfg
        raw = self._medians[symbol] * math.exp(c.size_sigma * float(self.rng.standard_normal()))
        if self.rng.random() < c.tail_p:
            raw *= 1.0 + float(self.rng.pareto(c.tail_alpha))
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
    """Endless stream of taker orders on the calibrated market model; ids consecutive per symbol.

    `rate` is the long-run trades (fills) per second across all symbols. The source
    reads prices from `model` at second `start_s + t` (t = seconds since the source
    began), so a history source over [0, H) and a live source from `start_s=H` on
    the same model continue one path. `stop_s` ends the source after that many
    seconds; `total_trades` (if set) caps the number of fills (trade ids) produced.
    """

    def __init__(
        self,
        symbols: list[str],
        *,
        rate: float = 20.0,
        seed: int = 7,
        total_trades: int | None = None,
        first_id: int = 1_000_000,
        first_agg_id: int | None = None,
        config: ArrivalConfig | None = None,
        model: MarketModel | None = None,
        start_s: float = 0.0,
        stop_s: float | None = None,
    ) -> None:
        rng = np.random.default_rng([seed, int(start_s)])
        cfg = config or ArrivalConfig()
        cfg.rate = rate
        self.arrivals = ArrivalProcess(symbols, rng, cfg)
        # `rate` is trades/s: the order rate is that over the fills per order.
        cfg.rate = rate / self.arrivals.mean_fills()
        self.model = model or MarketModel(symbols, seed=seed)
        self.symbols = list(symbols)
        self._col = {s: self.model.symbols.index(s) for s in symbols}
        self.specs = {s: spec_for(s) for s in symbols}
        self._log_level = {s: math.log(sp.level) for s, sp in self.specs.items()}
        self._pdec = {s: decimals(sp.tick) for s, sp in self.specs.items()}
        self.shift = {s: 0.0 for s in symbols}
        self.next_trade_id = {s: first_id for s in symbols}
        agg0 = first_id // 2 if first_agg_id is None else first_agg_id
        self.next_agg_id = {s: agg0 for s in symbols}
        self.remaining = total_trades
        self.start_s = start_s
        self.stop_s = stop_s
        self.t = 0.0

    def __iter__(self) -> SyntheticSource:
        return self

    def mid(self, symbol: str, t: float | None = None) -> float:
        """The model's mid price of `symbol` at source time `t` (default now), shift included."""
        sec = int(self.start_s + (self.t if t is None else t))
        move = float(self.model.log_move(sec)[self._col[symbol]])
        return math.exp(self._log_level[symbol] + move + self.shift[symbol])

    def _price(self, symbol: str, taker_buys: bool) -> str:
        tick = self.specs[symbol].tick
        ticks = self.mid(symbol) / tick
        n = max(1, math.ceil(ticks) if taker_buys else math.floor(ticks))
        return f"{n * tick:.{self._pdec[symbol]}f}"

    def __next__(self) -> SimOrder:
        if self.remaining is not None and self.remaining <= 0:
            raise StopIteration
        a = self.arrivals
        gap = a.next_gap_s(self.model.vol_mult(int(self.start_s + self.t)))
        if self.stop_s is not None and self.t + gap >= self.stop_s:
            self.t = self.stop_s
            raise StopIteration
        self.t += gap
        symbol = a.symbol()
        n = a.fills()
        if self.remaining is not None:
            n = min(n, self.remaining)
            self.remaining -= n
        m = a.buyer_is_maker(symbol)
        p = self._price(symbol, taker_buys=not m)
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
        """Shift one symbol's level by `pct` percent (2.0 → +2 %); raises KeyError if unknown."""
        if symbol not in self.shift:
            raise KeyError(symbol)
        self.shift[symbol] += math.log1p(pct / 100.0)
