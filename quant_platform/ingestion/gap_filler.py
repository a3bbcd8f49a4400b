"""Fill trade-id gaps over REST, accounting for every missing id: recovered or unrecovered.

Gaps come from the live stream (an id jump), a reconnect or a start (everything
after the newest id held), or holes found in the store at start. Per kind:

* `aggTrade`: page `/fapi/v1/aggTrades` by `fromId` until the gap is closed, no page cap.
* `trade`: `/fapi/v1/trades` reaches only the latest 1000 trades. With an API key
  (QP_BINANCE_API_KEY) the older part of a gap is paged from `/fapi/v1/historicalTrades`
  by `fromId` and stored as kind `trade` (`backfilled_historical`); if the venue refuses
  the key, the daemon stops using it. Without one, the older part is filled from
  aggTrades by time window (< 1 h per request, then by `fromId` while a window's
  page is full; never both in one request). Only aggTrades whose
  trade-id range `f..l` lies wholly inside the gap are stored, as kind `aggTrade`,
  so no trade is stored twice; the ids of aggTrades that straddle the gap's edge
  are counted unrecovered. Logged, and counted in `backfilled_via_agg`.

A 429/418 (`Throttled`) parks the whole worker for the venue's `Retry-After` and
puts the gap back at the head of the queue with its progress: a throttle never
drops or counts a gap. Other failures retry with capped backoff; after
`max_attempts` the ids still open in a bounded gap are counted unrecovered (an
open-ended one is resumed by the next start, which reads the store).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from quant_platform.domain.trade import Trade
from quant_platform.feed.backfill import (
    HISTORICAL_PAGE_LIMIT,
    MAX_WINDOW_MS,
    PAGE_LIMIT,
    BackfillError,
    KeyRejected,
    RestAggTrade,
    RestBackfiller,
    RestTrade,
    Throttled,
    agg_row_ok,
    agg_to_trade,
    trade_to_trade,
)
from quant_platform.feed.continuity import TradeIdTracker

log = logging.getLogger(__name__)


@dataclass
class GapRequest:
    """Ids `from_id..to_id` of one (symbol, kind) stream to fetch; `to_id=None`: up to now.

    `after_ms` / `before_ms`: exchange times of the trades just before and after the
    gap (bounds of an aggTrade time window). `next_id` is the progress so far, so a
    throttled request resumes where it stopped.
    """

    symbol: str
    kind: str
    from_id: int
    to_id: int | None
    after_ms: int | None = None
    before_ms: int | None = None
    reason: str = "live"
    attempts: int = 0
    next_id: int | None = None

    def __post_init__(self) -> None:
        if self.next_id is None:
            self.next_id = self.from_id


def _mergeable(q: GapRequest, new: GapRequest) -> bool:
    """Same stream, not started, same openness, and the id ranges overlap or touch."""
    if (q.symbol, q.kind) != (new.symbol, new.kind) or q.next_id != q.from_id or q.attempts:
        return False
    if (q.to_id is None) != (new.to_id is None):
        return False
    if q.to_id is None:
        return True  # both "everything after": one walk from the lower start
    assert new.to_id is not None
    return new.from_id <= q.to_id + 1 and new.to_id + 1 >= q.from_id


def _absorb(q: GapRequest, new: GapRequest) -> None:
    if new.from_id < q.from_id:
        q.from_id = q.next_id = new.from_id
        q.after_ms = new.after_ms
    if q.to_id is not None and new.to_id is not None and new.to_id > q.to_id:
        q.to_id = new.to_id
        q.before_ms = new.before_ms


class GapFiller:
    """One worker draining a FIFO of `GapRequest`s; `accept` hands a row to the sinks.

    Counters (also in `counts`, shared with the daemon's health): `backfilled`
    (missing ids recovered), `backfilled_via_agg` (of those, trade ids covered by
    stored aggTrades), `unrecovered`, `throttled` (429/418 waits), `failed_attempts`.
    """

    def __init__(
        self,
        backfiller: RestBackfiller,
        tracker: TradeIdTracker,
        accept: Callable[[Trade], None],
        counts: dict[str, int],
        *,
        on_recovered: Callable[[int, int, int], None] | None = None,
        on_unrecovered: Callable[[int], None] | None = None,
        on_throttled: Callable[[], None] | None = None,
        max_attempts: int = 8,
        retry_cap_s: float = 60.0,
    ) -> None:
        self.bf = backfiller
        self.tracker = tracker
        self.accept = accept
        self.counts = counts
        for k in (
            "backfilled",
            "backfilled_via_agg",
            "backfilled_historical",
            "unrecovered",
            "throttled",
        ):
            counts.setdefault(k, 0)
        counts.setdefault("backfill_failures", 0)
        self.on_recovered = on_recovered
        self.on_unrecovered = on_unrecovered
        self.on_throttled = on_throttled
        self.max_attempts = max_attempts
        self.retry_cap_s = retry_cap_s
        self._queue: collections.deque[GapRequest] = collections.deque()
        self._wake = asyncio.Event()
        self.busy = False
        self.merged = 0  # gaps folded into one already queued

    # --- queue ------------------------------------------------------------------------
    def put(self, req: GapRequest) -> None:
        """Queue a gap, merged into a queued one of the same stream when they overlap or touch.

        Closed gaps merge with closed ones and open-ended with open-ended (a flapping
        connection's repeated "everything after id N" becomes one walk); a closed gap is
        never folded into an open-ended one, which is skipped once the stream moves on.
        """
        for q in self._queue:
            if _mergeable(q, req):
                _absorb(q, req)
                self.merged += 1
                self._wake.set()
                return
        self._queue.append(req)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue) + (1 if self.busy else 0)

    def idle(self) -> bool:
        return not self._queue and not self.busy

    async def run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            req = self._queue.popleft()
            self.busy = True
            try:
                await self._handle(req)
            except Throttled as exc:
                self.counts["throttled"] += 1
                if self.on_throttled is not None:
                    self.on_throttled()
                wait = max(exc.retry_after_s, 1.0)
                log.warning(
                    "backfill %s %s paused %.0f s (HTTP %d, Retry-After); the gap %d..%s "
                    "stays queued",
                    req.symbol,
                    req.kind,
                    wait,
                    exc.status,
                    req.next_id,
                    req.to_id if req.to_id is not None else "now",
                )
                self._queue.appendleft(req)
                await asyncio.sleep(wait)
            except (BackfillError, ValueError, OSError) as exc:
                self._failed(req, exc)
            finally:
                self.busy = False

    def _failed(self, req: GapRequest, exc: BaseException) -> None:
        req.attempts += 1
        self.counts["backfill_failures"] += 1
        if req.attempts < self.max_attempts:
            delay = min(self.retry_cap_s, 0.5 * 2**req.attempts)
            log.warning(
                "backfill %s %s from %d failed (%s); retry %d/%d in %.1f s",
                req.symbol,
                req.kind,
                req.next_id,
                exc,
                req.attempts,
                self.max_attempts,
                delay,
            )
            loop = asyncio.get_running_loop()
            loop.call_later(delay, self.put, req)
            return
        if req.to_id is None:
            log.error(
                "backfill %s %s after id %d failed %d times (%s): left to the next start, "
                "which resumes from the newest stored id",
                req.symbol,
                req.kind,
                req.from_id - 1,
                req.attempts,
                exc,
            )
            return
        lost = self.tracker.abandon(req.symbol, req.kind, req.from_id, req.to_id)
        self._lost(req, lost, f"REST kept failing: {exc}")

    def _lost(self, req: GapRequest, lost: int, why: str) -> None:
        if lost <= 0:
            return
        self.counts["unrecovered"] += lost
        if self.on_unrecovered is not None:
            self.on_unrecovered(lost)
        log.warning(
            "%s %s: %d trades of the gap %d..%s counted unrecovered (%s)",
            req.symbol,
            req.kind,
            lost,
            req.from_id,
            req.to_id if req.to_id is not None else "now",
            why,
        )

    def _recovered(self, n: int, via_agg: int = 0, historical: int = 0) -> None:
        if n <= 0:
            return
        self.counts["backfilled"] += n
        self.counts["backfilled_via_agg"] += via_agg
        self.counts["backfilled_historical"] += historical
        if self.on_recovered is not None:
            self.on_recovered(n, via_agg, historical)

    def _live_took_over(self, req: GapRequest) -> bool:
        """An open-ended request is moot once the stream moved past its start.

        Everything between is then either held or inside a gap the live stream
        queued itself (with exact bounds).
        """
        last = self.tracker.last_id(req.symbol, req.kind)
        return req.to_id is None and last is not None and last >= (req.next_id or 0)

    # --- per kind ---------------------------------------------------------------------
    async def _handle(self, req: GapRequest) -> None:
        if req.kind == "aggTrade":
            await self._agg_by_id(req)
        elif req.kind == "trade":
            await self._trades(req)
        else:
            raise ValueError(f"unknown stream kind {req.kind!r}")

    async def _agg_by_id(self, req: GapRequest) -> None:
        sym = req.symbol
        high = req.from_id - 1
        got = 0
        while not self._live_took_over(req):
            assert req.next_id is not None
            rows = await self.bf.agg_page(sym, from_id=req.next_id)
            n, high = self._store_agg_page(req, rows, high)
            got += n
            if rows:
                req.next_id = max(req.next_id, rows[-1].a + 1)
            if len(rows) < PAGE_LIMIT or (req.to_id is not None and req.next_id > req.to_id):
                break
        self._recovered(got)
        if got:
            log.info("backfilled %d aggTrades of %s over REST (%s)", got, sym, req.reason)
        # What the venue did not return inside the range it answered for is lost.
        top = req.to_id if req.to_id is not None else high
        if top >= req.from_id:
            lost = self.tracker.abandon(sym, req.kind, req.from_id, top)
            self._lost(req, lost, "not returned by /fapi/v1/aggTrades")

    def _store_agg_page(
        self, req: GapRequest, rows: list[RestAggTrade], high: int
    ) -> tuple[int, int]:
        """Accept the page's aggTrades that fill the gap; (rows accepted, highest id seen)."""
        now_ns = time.time_ns()
        got = 0
        for r in rows:
            if req.to_id is not None and r.a > req.to_id:
                break
            t = agg_to_trade(req.symbol, r, now_ns)
            if t is None:
                self.bf.invalid_rows += 1
                continue
            high = max(high, r.a)
            if self.tracker.fill(t):
                self.accept(t)
                got += 1
        return got, high

    async def _trades(self, req: GapRequest) -> None:
        sym = req.symbol
        if self._live_took_over(req):
            return
        rows = await self.bf.recent_trades(sym)
        now_ns = time.time_ns()
        got = 0
        for r in rows:
            if r.id < req.from_id or (req.to_id is not None and r.id > req.to_id):
                continue
            t = trade_to_trade(sym, r, now_ns)
            if t is None:
                self.bf.invalid_rows += 1
                continue
            if self.tracker.fill(t):
                self.accept(t)
                got += 1
        self._recovered(got)
        if got:
            log.info("backfilled %d trades of %s from /fapi/v1/trades (%s)", got, sym, req.reason)
        if not rows:
            return
        oldest = rows[0]
        if oldest.id <= req.from_id:
            top = req.to_id if req.to_id is not None else rows[-1].id
            lost = self.tracker.abandon(sym, "trade", req.from_id, top)
            self._lost(req, lost, "not returned by /fapi/v1/trades")
            return
        # Older than the last 1000 trades: historicalTrades with a key, else aggTrades.
        hi = oldest.id - 1 if req.to_id is None else min(req.to_id, oldest.id - 1)
        if not (self.bf.has_api_key and await self._historical(req, req.from_id, hi)):
            end_ms = oldest.time if hi == oldest.id - 1 else req.before_ms
            await self._agg_fallback(req, req.from_id, hi, req.after_ms, end_ms)
        top = req.to_id if req.to_id is not None else rows[-1].id
        lost = self.tracker.abandon(sym, "trade", req.from_id, top)
        self._lost(req, lost, "older than /fapi/v1/trades reaches, not returned or covered")

    async def _historical(self, req: GapRequest, lo: int, hi: int) -> bool:
        """Fill trade ids `lo..hi` from `/fapi/v1/historicalTrades` (fromId paging), kind `trade`.

        Returns False, having stopped using the key, when the venue refuses it (the
        caller then falls back to aggTrades); True otherwise. Ids the venue does not
        return stay open for the caller to count.

        Raises:
            Throttled, BackfillError: as `RestBackfiller._get` (the gap is re-queued).
        """
        sym = req.symbol
        nxt, got = lo, 0
        try:
            while nxt <= hi:
                rows = await self.bf.historical_trades_page(sym, nxt)
                got += self._store_trades(sym, rows, nxt, hi)
                if rows:
                    nxt = max(nxt, rows[-1].id + 1)
                if len(rows) < HISTORICAL_PAGE_LIMIT:
                    break
        except KeyRejected as exc:
            self.bf.drop_api_key()
            log.error(
                "%s: the venue refused the API key for /fapi/v1/historicalTrades (%s); "
                "@trade gaps are filled from aggTrades from now on",
                sym,
                exc,
            )
            self._recovered(got, historical=got)
            return False
        self._recovered(got, historical=got)
        log.info(
            "backfilled %d trades of %s from /fapi/v1/historicalTrades (ids %d..%d, %s)",
            got,
            sym,
            lo,
            hi,
            req.reason,
        )
        return True

    def _store_trades(self, sym: str, rows: list[RestTrade], lo: int, hi: int) -> int:
        """Accept the REST trades with ids in `lo..hi` that fill open ids; how many."""
        now_ns = time.time_ns()
        got = 0
        for r in rows:
            if r.id < lo or r.id > hi:
                continue
            t = trade_to_trade(sym, r, now_ns)
            if t is None:
                self.bf.invalid_rows += 1
            elif self.tracker.fill(t):
                self.accept(t)
                got += 1
        return got

    async def _agg_fallback(
        self, req: GapRequest, lo: int, hi: int, start_ms: int | None, end_ms: int | None
    ) -> None:
        """Store the aggTrades whose trade ids `f..l` lie inside `lo..hi` (kind `aggTrade`)."""
        sym = req.symbol
        if start_ms is None or end_ms is None or end_ms < start_ms:
            return  # no time bounds known: the caller counts the ids unrecovered
        log.warning(
            "%s: trade ids %d..%d are older than /fapi/v1/trades reaches; filling them from "
            "aggTrades (%d..%d ms), stored as kind aggTrade",
            sym,
            lo,
            hi,
            start_ms,
            end_ms,
        )
        covered = 0
        stored = 0
        window = start_ms
        after_id: int | None = None
        while after_id is not None or window <= end_ms:
            if after_id is None:
                w_end = min(window + MAX_WINDOW_MS, end_ms)
                rows = await self.bf.agg_page(sym, start_ms=window, end_ms=w_end)
            else:
                rows = await self.bf.agg_page(sym, from_id=after_id)
            ids, n, done = self._store_covering(sym, rows, lo, hi, end_ms)
            covered += ids
            stored += n
            if done:
                break
            if len(rows) >= PAGE_LIMIT:
                after_id = rows[-1].a + 1  # the window's page was full: go on by id
            elif after_id is not None:
                break  # paging by id reached the newest aggTrade
            else:
                window = w_end + 1
        self._recovered(covered, covered)
        log.warning(
            "%s: %d trade ids recovered as %d aggTrade rows (fallback, %s)",
            sym,
            covered,
            stored,
            req.reason,
        )

    def _store_covering(
        self, sym: str, rows: list[RestAggTrade], lo: int, hi: int, end_ms: int
    ) -> tuple[int, int, bool]:
        """Store the aggTrades lying wholly inside trade ids `lo..hi`.

        Returns (trade ids covered, rows stored, whether the page went past the gap).
        """
        now_ns = time.time_ns()
        covered = stored = 0
        for r in rows:
            if r.T > end_ms or r.f > hi:
                return covered, stored, True
            if not agg_row_ok(r) or r.f < lo or r.l > hi:
                continue  # straddles an edge (or out of range): its ids stay open
            if not self.tracker.take_range(sym, "trade", r.f, r.l):
                continue  # some of its trades are already held
            t = agg_to_trade(sym, r, now_ns)
            if t is None:
                continue
            self.accept(t)
            covered += r.l - r.f + 1
            stored += 1
        return covered, stored, False
