"""The backfill worker's queue of id gaps, merging overlapping and touching ones.

A flapping connection queues "everything after id N" on every reconnect, and
a burst of out-of-order frames queues many small neighbouring gaps; fetched
one by one they would cost the REST weight budget many times over for the same
ids. Queued gaps of the same (symbol, kind) that overlap or touch become one.
A gap already taken by the worker is not touched: a new one may overlap it,
and the tracker's `fill` drops any id stored twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class QueuedGap:
    symbol: str
    kind: str
    from_id: int
    to_id: int | None  # None: open-ended ("everything after from_id - 1")

    def touches(self, from_id: int, to_id: int | None) -> bool:
        """True when [from_id, to_id] overlaps or is adjacent to this gap."""
        if self.to_id is not None and from_id > self.to_id + 1:
            return False
        return to_id is None or to_id + 1 >= self.from_id

    def absorb(self, from_id: int, to_id: int | None) -> None:
        self.from_id = min(self.from_id, from_id)
        self.to_id = None if self.to_id is None or to_id is None else max(self.to_id, to_id)


class GapQueue:
    """FIFO of gaps; `put` merges into a queued gap of the same stream when they meet.

    Not thread-safe: used on the event loop only.
    """

    def __init__(self) -> None:
        self._items: list[QueuedGap] = []
        self._ready = asyncio.Event()
        self.merged = 0  # gaps folded into one already queued

    def put_nowait(self, item: tuple[str, str, int, int | None]) -> None:
        symbol, kind, from_id, to_id = item
        merged = None
        for g in self._items:
            if g.symbol == symbol and g.kind == kind and g.touches(from_id, to_id):
                if merged is None:
                    g.absorb(from_id, to_id)
                    merged = g
                else:  # the new range bridged two queued gaps: fold the later one in
                    merged.absorb(g.from_id, g.to_id)
                    g.symbol = ""  # marked for removal
                self.merged += 1
        if merged is None:
            self._items.append(QueuedGap(symbol, kind, from_id, to_id))
        else:
            self._items = [g for g in self._items if g.symbol]
        self._ready.set()

    async def get(self) -> tuple[str, str, int, int | None]:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        g = self._items.pop(0)
        return g.symbol, g.kind, g.from_id, g.to_id

    def qsize(self) -> int:
        return len(self._items)
