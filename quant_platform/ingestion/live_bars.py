"""Per-symbol 1-second bars kept incrementally, so the 5 s analytics cycle never rescans ticks.

The tick buffer holds only the last 1000 trades; an hour of pair statistics
needs an hour of bars. Each trade costs O(1): update the open bar or start one.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class LiveBars:
    """Rolling bars for one symbol: bucket start (s), close, volume, buy volume, notional."""

    __slots__ = ("bar_s", "_bucket", "_close", "_vol", "_buy", "_notional", "_cur")

    def __init__(self, bar_s: int, max_bars: int) -> None:
        self.bar_s = bar_s
        self._bucket: deque[int] = deque(maxlen=max_bars)
        self._close: deque[float] = deque(maxlen=max_bars)
        self._vol: deque[float] = deque(maxlen=max_bars)
        self._buy: deque[float] = deque(maxlen=max_bars)
        self._notional: deque[float] = deque(maxlen=max_bars)
        self._cur: int | None = None

    def add(self, trade_time_ms: int, price: float, qty: float, buyer_is_maker: bool) -> None:
        bucket = trade_time_ms // 1000 // self.bar_s * self.bar_s
        if self._cur is not None and bucket < self._cur:
            return  # late trade for a closed bar: the batch side (Dagster) has it exactly
        if bucket != self._cur:
            self._cur = bucket
            self._bucket.append(bucket)
            self._close.append(price)
            self._vol.append(qty)
            self._buy.append(0.0 if buyer_is_maker else qty)
            self._notional.append(price * qty)
            return
        self._close[-1] = price
        self._vol[-1] += qty
        if not buyer_is_maker:
            self._buy[-1] += qty
        self._notional[-1] += price * qty

    def __len__(self) -> int:
        return len(self._bucket)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "bucket": np.fromiter(self._bucket, dtype=np.int64, count=len(self._bucket)),
            "close": np.fromiter(self._close, dtype=np.float64, count=len(self._close)),
            "volume": np.fromiter(self._vol, dtype=np.float64, count=len(self._vol)),
            "buy_volume": np.fromiter(self._buy, dtype=np.float64, count=len(self._buy)),
            "notional": np.fromiter(self._notional, dtype=np.float64, count=len(self._notional)),
        }


def align_closes(
    bars: dict[str, dict[str, np.ndarray]], bar_s: int, window: int, ffill_limit: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Closes of every symbol on one clock (the last `window` buckets), forward-filled.

    A bucket with no trade takes the previous close for up to `ffill_limit` bars,
    then NaN; pair statistics need simultaneous observations, not last-seen prices
    from minutes ago.
    """
    ends = [int(b["bucket"][-1]) for b in bars.values() if len(b["bucket"])]
    if not ends:
        return np.empty(0, dtype=np.int64), {s: np.empty(0) for s in bars}
    end = max(ends)
    clock = np.arange(end - (window - 1) * bar_s, end + 1, bar_s, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for sym, b in bars.items():
        col = np.full(clock.size, np.nan)
        if len(b["bucket"]):
            idx = (b["bucket"] - clock[0]) // bar_s
            ok = (idx >= 0) & (idx < clock.size)
            col[idx[ok]] = b["close"][ok]
            # forward fill with a limit: position of last valid value, distance to it
            valid = ~np.isnan(col)
            last = np.where(valid, np.arange(clock.size), -1)
            np.maximum.accumulate(last, out=last)
            # a value before the window also seeds the fill (bars older than the clock start)
            before = b["bucket"] < clock[0]
            if before.any() and not valid[0]:
                col[0] = b["close"][before][-1]
                valid[0] = True
                last = np.where(valid, np.arange(clock.size), -1)
                np.maximum.accumulate(last, out=last)
            dist = np.arange(clock.size) - last
            fill = (last >= 0) & (dist <= ffill_limit)
            col = np.where(fill, col[np.clip(last, 0, None)], np.nan)
        out[sym] = col
    return clock, out
