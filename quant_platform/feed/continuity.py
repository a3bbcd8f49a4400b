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

    `gap` is `(from_id, to_id)` of the ids skipped just before this trade;
    `after_ms` is the time of the last trade before the gap (where a time-window
    backfill starts).
    """

    new: bool
    duplicate: bool = False
    gap: tuple[int, int] | None = None
    after_ms: int | None = None


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
        self._last_ms: dict[tuple[str, str], int] = {}
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
            self._last_ms[key] = trade.trade_time_ms
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
        after_ms = self._last_ms.get(key)
        self._last_ms[key] = trade.trade_time_ms
        gap = (last + 1, tid - 1)
        self._remember(key, gap)
        return Status(new=True, gap=gap, after_ms=after_ms)

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
            self._last_ms[key] = trade.trade_time_ms
            return True
        if tid > last:
            if tid > last + 1:
                self._remember(key, (last + 1, tid - 1))
            self._last[key] = tid
            self._last_ms[key] = trade.trade_time_ms
            return True
        return self._take(key, tid)

    def seed(self, symbol: str, kind: str, last_id: int, last_ms: int) -> None:
        """Start a stream at what the store already holds (daemon start after a stop or crash).

        Later ids then continue it (or open a gap from `last_id + 1`); nothing is seeded if
        the stream already moved past it.
        """
        key = (symbol, kind)
        if self._last.get(key, -1) >= last_id:
            return
        self._last[key] = last_id
        self._last_ms[key] = last_ms
        self._first.setdefault(key, last_id)

    def add_gap(self, symbol: str, kind: str, from_id: int, to_id: int) -> None:
        """Register a hole found elsewhere (in the store) so a backfill may fill it."""
        if from_id <= to_id:
            self._insert((symbol, kind), from_id, to_id)

    def take_range(self, symbol: str, kind: str, lo: int, hi: int) -> bool:
        """Fill ids `lo..hi` at once (an aggTrade covering these trade ids) if all are open.

        All or nothing: a range that overlaps an id already held would count it twice.
        """
        ranges = self._open.get((symbol, kind))
        if not ranges or lo > hi:
            return False
        i = bisect.bisect_right(ranges, [lo, float("inf")]) - 1
        if i < 0:
            return False
        a, b = ranges[i]
        if not (a <= lo and hi <= b):
            return False
        self.filled += hi - lo + 1
        pieces = ([[a, lo - 1]] if a < lo else []) + ([[hi + 1, b]] if hi < b else [])
        ranges[i : i + 1] = pieces
        if not ranges:
            del self._open[(symbol, kind)]
        return True

    def open_count(self, symbol: str, kind: str, lo: int, hi: int) -> int:
        """How many ids in `lo..hi` are still open."""
        return sum(
            max(0, min(b, hi) - max(a, lo) + 1) for a, b in self._open.get((symbol, kind), [])
        )

    def abandon(self, symbol: str, kind: str, lo: int, hi: int) -> int:
        """Close the open ids in `lo..hi` as lost (counted by the caller); returns how many."""
        key = (symbol, kind)
        ranges = self._open.get(key)
        if not ranges:
            return 0
        lost = 0
        kept: list[list[int]] = []
        for a, b in ranges:
            if b < lo or a > hi:
                kept.append([a, b])
                continue
            lost += min(b, hi) - max(a, lo) + 1
            if a < lo:
                kept.append([a, lo - 1])
            if b > hi:
                kept.append([hi + 1, b])
        if kept:
            self._open[key] = kept
        else:
            del self._open[key]
        return lost

    def last_time_ms(self, symbol: str, kind: str) -> int | None:
        """Exchange time of the last id seen: where a time-window backfill starts."""
        return self._last_ms.get((symbol, kind))

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
        self._insert(key, gap[0], gap[1])
        ranges = self._open[key]
        if len(ranges) > self.max_open_gaps:
            dropped = ranges.pop(0)
            self.forgotten_gaps += 1
            log.warning("%s %s: too many open gaps, forgetting %d..%d", *key, *dropped)

    def _insert(self, key: tuple[str, str], lo: int, hi: int) -> None:
        """Add `lo..hi` to the sorted, disjoint open ranges, merging any overlap."""
        ranges = self._open.setdefault(key, [])
        if not ranges or ranges[-1][1] < lo - 1:
            ranges.append([lo, hi])  # the common case: new gaps are above the old ones
            return
        merged: list[list[int]] = []
        for a, b in ranges:
            if b < lo - 1 or a > hi + 1:
                merged.append([a, b])
            else:
                lo, hi = min(a, lo), max(b, hi)
        merged.append([lo, hi])
        merged.sort()
        self._open[key] = merged

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
