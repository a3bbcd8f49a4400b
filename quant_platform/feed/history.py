"""Fetch hours of past trades over the venue's REST API, as a first start's history.

The live backfill closes id gaps of seconds; this fetches a time range of hours
with the same client (`RestBackfiller`: weight budget, `Retry-After`, retries):

* the first id at the range's start comes from `aggTrades` with a `startTime`
  window (`f`, the first trade id, for `@trade`; `a` for `@aggTrade`), stepping
  an hour at a time until a window has a trade;
* then pages forward by id: `historicalTrades` (`fromId`, 500 a page) for the
  `@trade` stream, `aggTrades` (`fromId`, 1000 a page) for `@aggTrade`.

Trades are handed to a callback page by page, so hours of history never sit in
memory at once. The range ends at the newest trade the venue has when paging
reaches it (a short page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from quant_platform.domain.trade import Trade
from quant_platform.feed.backfill import (
    AGG_TRADES_PATH,
    AGG_TRADES_WEIGHT,
    HISTORICAL_PAGE_LIMIT,
    HISTORICAL_TRADES_PATH,
    HISTORICAL_TRADES_WEIGHT,
    RestBackfiller,
    _agg_decoder,
    _positive,
    _trade_decoder,
)

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000


@dataclass
class SymbolHistory:
    """What one symbol's fetch got: trades, pages, and the time range covered."""

    symbol: str
    trades: int = 0
    pages: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


class HistoryFetcher(RestBackfiller):
    """`RestBackfiller` plus time-range paging. Raises BackfillError when the venue refuses."""

    async def first_id_since(
        self, symbol: str, kind: str, start_ms: int, end_ms: int
    ) -> int | None:
        """Id of the first trade at or after `start_ms` (None: nothing before `end_ms`)."""
        t = start_ms
        while t < end_ms:
            params = {
                "symbol": symbol.upper(),
                "startTime": t,
                "endTime": min(end_ms, t + HOUR_MS - 1),
                "limit": 1,
            }
            rows = _agg_decoder.decode(await self._get(AGG_TRADES_PATH, params, AGG_TRADES_WEIGHT))
            if rows:
                return rows[0].f if kind == "trade" else rows[0].a
            t += HOUR_MS
        return None

    async def fetch_range(
        self,
        symbol: str,
        kind: str,
        start_ms: int,
        sink: Callable[[list[Trade]], None],
        end_ms: int | None = None,
    ) -> SymbolHistory:
        """Every `kind` trade of `symbol` from `start_ms` to the newest, pages into `sink`."""
        end = end_ms if end_ms is not None else int(time.time() * 1000)
        out = SymbolHistory(symbol.upper())
        next_id = await self.first_id_since(symbol, kind, start_ms, end)
        while next_id is not None:
            trades, short = await self._page(symbol, kind, next_id)
            out.pages += 1
            if trades:
                sink(trades)
                out.trades += len(trades)
                out.first_ms = out.first_ms or trades[0].trade_time_ms
                out.last_ms = trades[-1].trade_time_ms
                next_id = trades[-1].trade_id + 1
            if short or not trades:
                break
        log.info("%s: %d %s trades of history in %d pages", symbol, out.trades, kind, out.pages)
        return out

    async def _page(self, symbol: str, kind: str, from_id: int) -> tuple[list[Trade], bool]:
        """One page from `from_id`; `short` is True when the venue had no more."""
        now_ns = time.time_ns()
        s = symbol.upper()
        if kind == "aggTrade":
            params = {"symbol": s, "fromId": from_id, "limit": 1000}
            rows = _agg_decoder.decode(await self._get(AGG_TRADES_PATH, params, AGG_TRADES_WEIGHT))
            trades = []
            for r in rows:
                p, q = _positive(r.p), _positive(r.q)
                if p is None or q is None:
                    self.invalid_rows += 1
                    continue
                trades.append(Trade(s, r.a, p, q, r.T, r.T, r.m, now_ns, "aggTrade", "MARKET"))
            return trades, len(rows) < 1000
        params = {"symbol": s, "fromId": from_id, "limit": HISTORICAL_PAGE_LIMIT}
        body = await self._get(HISTORICAL_TRADES_PATH, params, HISTORICAL_TRADES_WEIGHT)
        try:
            rows = _trade_decoder.decode(body)
        except msgspec.DecodeError:
            self.invalid_rows += 1
            return [], True
        trades = []
        for r in sorted(rows, key=lambda r: r.id):
            p, q = _positive(r.price), _positive(r.qty)
            if p is None or q is None:
                self.invalid_rows += 1
                continue
            trades.append(
                Trade(s, r.id, p, q, r.time, r.time, r.is_buyer_maker, now_ns, "trade", "MARKET")
            )
        return trades, len(rows) < HISTORICAL_PAGE_LIMIT
