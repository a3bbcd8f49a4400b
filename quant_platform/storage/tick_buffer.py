"""The in-memory tick buffer: the last N trades per symbol, always available.

It is the one sink that cannot fail, so live analytics and alerts keep working
while Redis or the database is down. Single asyncio thread: no locks.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from quant_platform.domain import Trade


class TickBuffer:
    def __init__(self, maxlen: int = 1000) -> None:
        self.maxlen = maxlen
        self._ticks: dict[str, deque[Trade]] = {}

    def append(self, trade: Trade) -> None:
        d = self._ticks.get(trade.symbol)
        if d is None:
            d = self._ticks[trade.symbol] = deque(maxlen=self.maxlen)
        d.append(trade)

    def latest(self, symbol: str, n: int | None = None) -> list[Trade]:
        """The newest `n` trades (all held if None), oldest first."""
        d = self._ticks.get(symbol)
        if not d:
            return []
        if n is None or n >= len(d):
            return list(d)
        return [d[i] for i in range(len(d) - n, len(d))]

    def last(self, symbol: str) -> Trade | None:
        d = self._ticks.get(symbol)
        return d[-1] if d else None

    def recent_arrays(self, symbol: str) -> dict[str, np.ndarray]:
        """Columns of the held trades, for the analytics library."""
        d = self._ticks.get(symbol) or ()
        n = len(d)
        return {
            "trade_time_ms": np.fromiter((t.trade_time_ms for t in d), np.int64, n),
            "price": np.fromiter((t.price for t in d), np.float64, n),
            "qty": np.fromiter((t.qty for t in d), np.float64, n),
            "buyer_is_maker": np.fromiter((t.buyer_is_maker for t in d), np.bool_, n),
        }

    def __len__(self) -> int:
        return sum(len(d) for d in self._ticks.values())

    def count(self, symbol: str) -> int:
        return len(self._ticks.get(symbol, ()))

    @property
    def symbols(self) -> list[str]:
        return list(self._ticks)
