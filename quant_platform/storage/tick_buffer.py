"""The in-memory tick buffer: the last N trades per symbol, always available.

It is the one sink that cannot fail, so live analytics and alerts keep working
while Redis or the database is down. One asyncio thread owns it: no locks.
Appends are O(1) (`deque(maxlen=N)` drops the oldest); reads build lists or
numpy columns of at most N trades (about 0.1 ms per symbol for N = 1000).
"""

from __future__ import annotations

import time
from collections import deque
from itertools import islice

import numpy as np

from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics

Columns = dict[str, np.ndarray]
COLUMNS = ("trade_time_ms", "price", "qty", "buyer_is_maker")
# observe 1 in N appends: a histogram per trade would cost more than the append itself
LATENCY_SAMPLE_EVERY = 256


class TickBuffer:
    """Last `maxlen` trades per symbol; `metrics` (optional) samples append latency."""

    def __init__(self, maxlen: int = 1000, metrics: StorageMetrics | None = None) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = maxlen
        self.appended = 0
        self._ticks: dict[str, deque[Trade]] = {}
        self._latency = metrics.sink_latency.labels("buffer") if metrics is not None else None
        self._rows = metrics.buffer_rows if metrics is not None else None

    # --- write ------------------------------------------------------------------------
    def append(self, trade: Trade) -> None:
        d = self._ticks.get(trade.symbol)
        if d is None:
            d = self._ticks[trade.symbol] = deque(maxlen=self.maxlen)
        d.append(trade)
        self.appended += 1
        if self._latency is not None and self.appended % LATENCY_SAMPLE_EVERY == 0:
            self._latency.observe((time.time_ns() - trade.receive_time_ns) / 1e9)
            self._rows.inc(LATENCY_SAMPLE_EVERY)  # type: ignore[union-attr]

    def clear(self, symbol: str | None = None) -> None:
        if symbol is None:
            self._ticks.clear()
        else:
            self._ticks.pop(symbol, None)

    # --- read -------------------------------------------------------------------------
    def latest(self, symbol: str, n: int | None = None) -> list[Trade]:
        """The newest `n` trades (all held if None), oldest first."""
        d = self._ticks.get(symbol)
        if not d:
            return []
        if n is None or n >= len(d):
            return list(d)
        if n <= 0:
            return []
        out = list(islice(reversed(d), n))
        out.reverse()
        return out

    def last(self, symbol: str) -> Trade | None:
        d = self._ticks.get(symbol)
        return d[-1] if d else None

    def arrays(self, symbol: str, n: int | None = None) -> Columns:
        """Columns (trade_time_ms int64, price/qty float64, buyer_is_maker bool), newest `n`."""
        d = self._ticks.get(symbol)
        src: deque[Trade] | list[Trade]
        if not d:
            src = []
        elif n is None or n >= len(d):
            src = d
        else:
            src = self.latest(symbol, n)
        k = len(src)
        return {
            "trade_time_ms": np.fromiter((t.trade_time_ms for t in src), np.int64, k),
            "price": np.fromiter((t.price for t in src), np.float64, k),
            "qty": np.fromiter((t.qty for t in src), np.float64, k),
            "buyer_is_maker": np.fromiter((t.buyer_is_maker for t in src), np.bool_, k),
        }

    def recent_arrays(self, symbol: str) -> Columns:
        """All held trades of `symbol` as columns (the live analytics' reader)."""
        return self.arrays(symbol)

    def snapshot(self) -> dict[str, Columns]:
        """Columns of every symbol, copied: safe to keep after later appends."""
        return {symbol: self.arrays(symbol) for symbol in self._ticks}

    # --- counts -----------------------------------------------------------------------
    def count(self, symbol: str) -> int:
        return len(self._ticks.get(symbol, ()))

    def counts(self) -> dict[str, int]:
        """Trades held per symbol."""
        return {symbol: len(d) for symbol, d in self._ticks.items()}

    def __len__(self) -> int:
        return sum(len(d) for d in self._ticks.values())

    @property
    def symbols(self) -> list[str]:
        return list(self._ticks)
