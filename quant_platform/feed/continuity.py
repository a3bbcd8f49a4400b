"""Per-(symbol, kind) trade-id continuity: new, duplicate, or after a gap.

Venue ids are monotone per symbol (`t` for @trade, `a` for @aggTrade, two
different sequences), so one integer per stream says whether a trade is new.
Gaps are remembered as id ranges so a REST backfill can fill exactly the
missing ids, and a replayed or overlapping backfill never yields a duplicate.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

from quant_platform.domain.trade import Trade

log = logging.getLogger(__name__)

MAX_OPEN_GAPS = 1000  # per stream; the oldest is forgotten beyond this (counted)


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing ids `from_id..to_id` (inclusive) of one symbol's stream."""

    symbol: str
    kind: str
    from_id: int
    to_id: int

    @property
    def size(self) -> int:
        return self.to_id - self.from_id + 1


@dataclass(frozen=True, slots=True)
class Status:
    """Classification of one observed trade.

    `gap` is `(from_id, to_id)` of the ids skipped just before this trade.
    """

    new: bool
    duplicate: bool = False
    gap: tuple[int, int] | None = None


NEW = Status(new=True)
DUPLICATE = Status(new=False, duplicate=True)


class TradeIdTracker:
    """Classifies live trades and accepts backfilled ones only into known holes.

    Counters: `duplicates`, `gaps` (events), `missing` (ids skipped),
    `filled` (ids recovered), `forgotten_gaps` (dropped beyond the cap).
    """

    def __init__(self, max_open_gaps: int = MAX_OPEN_GAPS) -> None:
        self.max_open_gaps = max_open_gaps
        self._last: dict[tuple[str, str], int] = {}
        # Lowest id seen per stream: anything below it was never seen, so a late
        # frame there (held back at subscription start) is new, not a duplicate.
        self._first: dict[tuple[str, str], int] = {}
        # Open gaps per stream as sorted, disjoint [from, to] lists.
        self._open: dict[tuple[str, str], list[list[int]]] = {}
        self.gap_log: list[Gap] = []
        self.duplicates = 0
        self.gaps = 0
        self.missing = 0
        self.filled = 0
        self.forgotten_gaps = 0

    def observe(self, trade: Trade) -> Status:
        """Classify a live trade; the first trade of a stream is new (no gap)."""
        key = (trade.symbol, trade.kind)
        tid = trade.trade_id
        last = self._last.get(key)
        if last is None or tid == last + 1:
            self._last[key] = tid
            if last is None:
                self._first[key] = tid
            return NEW
        if tid <= last:
            if self._take(key, tid):  # a late (out-of-order) trade filling a hole
                return NEW
            if self._below_first(key, tid):
                return NEW
            self.duplicates += 1
            return DUPLICATE
        self._last[key] = tid
        gap = (last + 1, tid - 1)
        self._remember(key, gap)
        return Status(new=True, gap=gap)

    def fill(self, trade: Trade) -> bool:
        """Accept a backfilled trade if it is in an open gap or beyond the last id.

        Ids beyond the last one extend the stream (the reconnect backfill asks
        for everything after the last id held); anything else is a duplicate.
        """
        key = (trade.symbol, trade.kind)
        tid = trade.trade_id
        last = self._last.get(key)
        if last is None:
            self._last[key] = self._first[key] = tid
            return True
        if tid > last:
            if tid > last + 1:
                self._remember(key, (last + 1, tid - 1))
            self._last[key] = tid
            return True
        return self._take(key, tid)

    def open_gaps(self, symbol: str | None = None, kind: str | None = None) -> list[Gap]:
        """Gaps not (yet) filled."""
        return [
            Gap(s, k, a, b)
            for (s, k), ranges in self._open.items()
            if (symbol is None or s == symbol) and (kind is None or k == kind)
            for a, b in ranges
        ]

    def last_ids(self) -> dict[tuple[str, str], int]:
        """Last id seen per (symbol, kind): where a reconnect backfill starts."""
        return dict(self._last)

    def last_id(self, symbol: str, kind: str) -> int | None:
        return self._last.get((symbol, kind))

    # --- internals ---------------------------------------------------------------
    def _below_first(self, key: tuple[str, str], tid: int) -> bool:
        """Accept an id older than any seen; ids between it and the first are pre-subscription
        history, not a gap of ours."""
        first = self._first.get(key)
        if first is None or tid >= first:
            return False
        self._first[key] = tid
        return True

    def _remember(self, key: tuple[str, str], gap: tuple[int, int]) -> None:
        self.gaps += 1
        self.missing += gap[1] - gap[0] + 1
        self.gap_log.append(Gap(key[0], key[1], gap[0], gap[1]))
        if len(self.gap_log) > self.max_open_gaps:
            del self.gap_log[: len(self.gap_log) - self.max_open_gaps]
        ranges = self._open.setdefault(key, [])
        ranges.append([gap[0], gap[1]])  # new gaps are always above the old ones
        if len(ranges) > self.max_open_gaps:
            dropped = ranges.pop(0)
            self.forgotten_gaps += 1
            log.warning("%s %s: too many open gaps, forgetting %d..%d", *key, *dropped)

    def _take(self, key: tuple[str, str], tid: int) -> bool:
        ranges = self._open.get(key)
        if not ranges:
            return False
        i = bisect.bisect_right(ranges, [tid, float("inf")]) - 1
        if i < 0:
            return False
        lo, hi = ranges[i]
        if not lo <= tid <= hi:
            return False
        self.filled += 1
        if lo == hi:
            del ranges[i]
        elif tid == lo:
            ranges[i][0] = tid + 1
        elif tid == hi:
            ranges[i][1] = tid - 1
        else:
            ranges[i : i + 1] = [[lo, tid - 1], [tid + 1, hi]]
        if not ranges:
            del self._open[key]
        return True
