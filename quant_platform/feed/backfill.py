"""REST backfill of trade-id gaps: `/fapi/v1/aggTrades` (by id) and `/fapi/v1/trades` (recent).

aggTrades pages forward from `fromId` (inclusive, 1000 per page, weight 20)
until the gap is closed; `fromId` and a time window are never combined.
`/fapi/v1/trades` only returns the latest 1000 trades (weight 5), so a @trade
gap is recoverable only while it is that recent: what is missing is reported,
not invented. Requests stay inside the venue's per-minute weight budget
(tracked from `X-MBX-USED-WEIGHT-1M`) and wait out 429/418 `Retry-After`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

import httpx
import msgspec

from quant_platform.domain.trade import Trade

log = logging.getLogger(__name__)

AGG_TRADES_PATH = "/fapi/v1/aggTrades"
TRADES_PATH = "/fapi/v1/trades"
AGG_TRADES_WEIGHT = 20
TRADES_WEIGHT = 5
WEIGHT_BUDGET_PER_MIN = 2400
PAGE_LIMIT = 1000


class BackfillError(RuntimeError):
    """The venue refused or kept failing; the gap stays open (the caller counts it)."""


class RestAggTrade(msgspec.Struct, gc=False):
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - the venue's field name
    T: int
    m: bool


class RestTrade(msgspec.Struct, gc=False, rename="camel"):
    id: int
    price: str
    qty: str
    time: int
    is_buyer_maker: bool
    quote_qty: str | None = None


_agg_decoder = msgspec.json.Decoder(list[RestAggTrade])
_trade_decoder = msgspec.json.Decoder(list[RestTrade])


def _positive(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if 0.0 < v < math.inf else None


class WeightBudget:
    """Fixed one-minute window of request weight, corrected by the venue's own count."""

    def __init__(
        self, per_minute: int = WEIGHT_BUDGET_PER_MIN, clock: Callable[[], float] = time.time
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.window = -1
        self.used = 0

    def _roll(self) -> None:
        w = int(self.clock() // 60)
        if w != self.window:
            self.window = w
            self.used = 0

    def wait_s(self, weight: int) -> float:
        """Seconds to wait before spending `weight` (0 if it fits this minute)."""
        self._roll()
        if self.used + weight <= self.per_minute:
            return 0.0
        return (self.window + 1) * 60 - self.clock() + 0.05

    def spend(self, weight: int) -> None:
        self._roll()
        self.used += weight

    def observe(self, used_header: str | None) -> None:
        """Adopt the venue's `X-MBX-USED-WEIGHT-1M` (it counts other clients on our IP too)."""
        if used_header is None:
            return
        try:
            self.used = max(0, int(used_header))
        except ValueError:
            pass


class RestBackfiller:
    """Fetch the trades of an id gap. Raises BackfillError when the venue refuses."""

    def __init__(
        self,
        rest_url: str,
        *,
        budget: WeightBudget | None = None,
        max_pages: int = 50,
        max_retries: int = 4,
        max_retry_after_s: float = 120.0,
        timeout_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.budget = budget or WeightBudget()
        self.max_pages = max_pages
        self.max_retries = max_retries
        self.max_retry_after_s = max_retry_after_s
        self.sleep = sleep
        self.requests = 0
        self.throttled = 0
        self.invalid_rows = 0
        self._client = httpx.AsyncClient(base_url=self.rest_url, timeout=timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RestBackfiller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch(
        self, symbol: str, kind: str, from_id: int, to_id: int | None = None
    ) -> tuple[list[Trade], int]:
        """Trades with ids in `from_id..to_id` (open-ended if None) and the count not recovered."""
        if kind == "aggTrade":
            return await self.fetch_agg_trades(symbol, from_id, to_id)
        if kind == "trade":
            return await self.fetch_recent_trades(symbol, from_id, to_id)
        raise ValueError(f"unknown stream kind {kind!r}")

    async def fetch_agg_trades(
        self, symbol: str, from_id: int, to_id: int | None = None
    ) -> tuple[list[Trade], int]:
        out: list[Trade] = []
        next_id = from_id
        for _ in range(self.max_pages):
            params = {"symbol": symbol.upper(), "fromId": next_id, "limit": PAGE_LIMIT}
            body = await self._get(AGG_TRADES_PATH, params, AGG_TRADES_WEIGHT)
            rows = _agg_decoder.decode(body)
            now_ns = time.time_ns()
            for r in rows:
                if to_id is not None and r.a > to_id:
                    break
                p, q = _positive(r.p), _positive(r.q)
                if p is None or q is None or r.a < next_id:
                    self.invalid_rows += 1
                    continue
                out.append(
                    Trade(symbol.upper(), r.a, p, q, r.T, r.T, r.m, now_ns, "aggTrade", "MARKET")
                )
            if rows:
                next_id = max(next_id, rows[-1].a + 1)
            done = len(rows) < PAGE_LIMIT or (to_id is not None and next_id > to_id)
            if done:
                break
        else:
            log.warning(
                "%s aggTrades backfill stopped after %d pages at id %d",
                symbol,
                self.max_pages,
                next_id,
            )
        unrecovered = self._missing(out, from_id, to_id)
        return out, unrecovered

    async def fetch_recent_trades(
        self, symbol: str, from_id: int, to_id: int | None = None
    ) -> tuple[list[Trade], int]:
        params = {"symbol": symbol.upper(), "limit": PAGE_LIMIT}
        body = await self._get(TRADES_PATH, params, TRADES_WEIGHT)
        rows = _trade_decoder.decode(body)
        now_ns = time.time_ns()
        out: list[Trade] = []
        for r in sorted(rows, key=lambda r: r.id):
            if r.id < from_id or (to_id is not None and r.id > to_id):
                continue
            p, q = _positive(r.price), _positive(r.qty)
            if p is None or q is None:
                self.invalid_rows += 1
                continue
            out.append(
                Trade(
                    symbol.upper(),
                    r.id,
                    p,
                    q,
                    r.time,
                    r.time,
                    r.is_buyer_maker,
                    now_ns,
                    "trade",
                    "MARKET",
                )
            )
        oldest = min((r.id for r in rows), default=None)
        if to_id is None and oldest is not None and oldest > from_id:
            # Open-ended: ids between from_id and the oldest recent trade are gone.
            return out, oldest - from_id
        return out, self._missing(out, from_id, to_id)

    @staticmethod
    def _missing(got: list[Trade], from_id: int, to_id: int | None) -> int:
        if to_id is None:
            return 0
        ids = {t.trade_id for t in got}
        return (to_id - from_id + 1) - len(ids)

    async def _get(self, path: str, params: dict[str, object], weight: int) -> bytes:
        attempt = 0
        while True:
            wait = self.budget.wait_s(weight)
            if wait > 0:
                log.info("REST weight budget reached; waiting %.1f s", wait)
                await self.sleep(wait)
            self.budget.spend(weight)
            self.requests += 1
            try:
                resp = await self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise BackfillError(f"GET {path} failed: {exc}") from exc
                await self.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            self.budget.observe(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
            if resp.status_code == 200:
                return resp.content
            attempt += 1
            if resp.status_code in (429, 418):
                self.throttled += 1
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if attempt > self.max_retries or retry_after > self.max_retry_after_s:
                    raise BackfillError(
                        f"GET {path}: HTTP {resp.status_code}, Retry-After "
                        f"{retry_after:.0f} s; giving up"
                    )
                log.warning(
                    "GET %s: HTTP %d, backing off %.1f s", path, resp.status_code, retry_after
                )
                await self.sleep(retry_after)
                continue
            if resp.status_code >= 500 and attempt <= self.max_retries:
                await self.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            raise BackfillError(f"GET {path}: HTTP {resp.status_code}: {resp.text[:200]}")


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 60.0
    except ValueError:
        return 60.0
