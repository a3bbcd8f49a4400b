"""REST access for gap backfills: aggTrades, trades, historicalTrades, `/fapi/v1/time`.

Binance USD-M semantics, mirrored by the simulator: aggTrades pages forward
from `fromId` (inclusive, up to 1000 rows, weight 20) or selects a
`startTime`/`endTime` window of less than one hour, never both in one request;
`/fapi/v1/trades` returns only the latest 1000 trades (weight 5). Requests stay
inside the per-minute weight budget (corrected by `X-MBX-USED-WEIGHT-1M`).
`/fapi/v1/historicalTrades` (pages by `fromId`, up to 500 rows, weight 20) is a
MARKET_DATA endpoint: the venue wants an API key in `X-MBX-APIKEY`, so it is
used only when one is configured; the key is sent on that path alone and never
logged. A 401/403 there raises `KeyRejected` (the caller stops using the key).
A 429/418 is waited out (`Retry-After`) a few times; beyond that `Throttled`
tells the caller how long the venue wants it to stay away, so it can keep the
gap queued instead of dropping it. `fetch()` is the one-shot helper; the
daemon's `GapFiller` drives the page methods itself (`agg_page`,
`recent_trades`) so it can account for every id.
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
HISTORICAL_TRADES_PATH = "/fapi/v1/historicalTrades"
HISTORICAL_TRADES_WEIGHT = 20
HISTORICAL_PAGE_LIMIT = 500
API_KEY_HEADER = "X-MBX-APIKEY"
KEYED_PATHS = frozenset({HISTORICAL_TRADES_PATH})
WEIGHT_BUDGET_PER_MIN = 2400
PAGE_LIMIT = 1000
MAX_WINDOW_MS = 3_600_000 - 1  # startTime..endTime must be under one hour


class BackfillError(RuntimeError):
    """The venue refused or kept failing; the gap stays open (the caller counts it)."""


class Throttled(BackfillError):
    """HTTP 429/418 beyond what one request waits out; `retry_after_s` is the venue's ask."""

    def __init__(self, message: str, status: int, retry_after_s: float) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class KeyRejected(BackfillError):
    """The venue refused the API key (HTTP 401/403) on a MARKET_DATA endpoint."""


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


class ServerTime(msgspec.Struct):
    serverTime: int  # noqa: N815 - the venue's field name


_agg_decoder = msgspec.json.Decoder(list[RestAggTrade])
_trade_decoder = msgspec.json.Decoder(list[RestTrade])
_time_decoder = msgspec.json.Decoder(ServerTime)
MAX_INT8 = 2**63 - 1
TIME_PATH = "/fapi/v1/time"
TIME_WEIGHT = 1


def agg_row_ok(r: RestAggTrade) -> bool:
    """Every number in range for the database (ids and time fit int8, ids ordered)."""
    return 0 <= r.a <= MAX_INT8 and 0 <= r.f <= r.l <= MAX_INT8 and 0 <= r.T <= MAX_INT8


def agg_to_trade(symbol: str, r: RestAggTrade, now_ns: int) -> Trade | None:
    """A REST aggTrade as a stored row of kind `aggTrade`, or None if a field is out of range."""
    p, q = _positive(r.p), _positive(r.q)
    if p is None or q is None or not agg_row_ok(r):
        return None
    return Trade(symbol, r.a, p, q, r.T, r.T, r.m, now_ns, "aggTrade", "MARKET")


def trade_to_trade(symbol: str, r: RestTrade, now_ns: int) -> Trade | None:
    """A REST trade as a stored row of kind `trade`, or None if a field is out of range."""
    p, q = _positive(r.price), _positive(r.qty)
    if p is None or q is None or not (0 <= r.id <= MAX_INT8 and 0 <= r.time <= MAX_INT8):
        return None
    return Trade(symbol, r.id, p, q, r.time, r.time, r.is_buyer_maker, now_ns, "trade", "MARKET")


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
        api_key: str | None = None,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self._api_key = api_key or None  # only ever put in a request header
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
        """Page by `fromId` until the gap is closed (or a short page says nothing is newer).

        No page cap (`max_pages` bounds other paged endpoints, e.g. fundingRate): a gap
        is read to its end, and ids the venue does not return are counted unrecovered.
        """
        out: list[Trade] = []
        next_id = from_id
        while True:
            rows = await self.agg_page(symbol, from_id=next_id)
            now_ns = time.time_ns()
            for r in rows:
                if to_id is not None and r.a > to_id:
                    break
                t = agg_to_trade(symbol.upper(), r, now_ns)
                if t is None or r.a < next_id:
                    self.invalid_rows += 1
                    continue
                out.append(t)
            if rows:
                next_id = max(next_id, rows[-1].a + 1)
            if len(rows) < PAGE_LIMIT or (to_id is not None and next_id > to_id):
                break
        unrecovered = self._missing(out, from_id, to_id)
        return out, unrecovered

    async def agg_page(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[RestAggTrade]:
        """One `/fapi/v1/aggTrades` page: by `fromId`, or by a window shorter than 1 h.

        Raises:
            ValueError: both an id and a window, or a window of 1 h or more (the venue
                answers -1128 / -1127 to those; asking is a bug of ours).
            Throttled, BackfillError: see `_get`.
        """
        params: dict[str, object] = {"symbol": symbol.upper(), "limit": PAGE_LIMIT}
        if from_id is not None:
            if start_ms is not None or end_ms is not None:
                raise ValueError("aggTrades: fromId cannot be combined with a time window")
            params["fromId"] = from_id
        if start_ms is not None and end_ms is not None:
            if not 0 <= end_ms - start_ms < MAX_WINDOW_MS + 1:
                raise ValueError(f"aggTrades window must be under 1 h, got {end_ms - start_ms} ms")
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return _agg_decoder.decode(await self._get(AGG_TRADES_PATH, params, AGG_TRADES_WEIGHT))

    async def recent_trades(self, symbol: str) -> list[RestTrade]:
        """The latest 1000 trades (`/fapi/v1/trades`), oldest first."""
        params = {"symbol": symbol.upper(), "limit": PAGE_LIMIT}
        rows = _trade_decoder.decode(await self._get(TRADES_PATH, params, TRADES_WEIGHT))
        return sorted(rows, key=lambda r: r.id)

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def drop_api_key(self) -> None:
        """Stop sending the key (the venue refused it); historicalTrades is not used again."""
        self._api_key = None

    async def historical_trades_page(self, symbol: str, from_id: int) -> list[RestTrade]:
        """Up to 500 trades from `from_id` on (`/fapi/v1/historicalTrades`), oldest first.

        Raises:
            BackfillError: no API key configured (a bug of the caller), or the venue refused.
            KeyRejected: the venue answered 401/403 to the key.
            Throttled: see `_get`.
        """
        if self._api_key is None:
            raise BackfillError("historicalTrades needs an API key (QP_BINANCE_API_KEY)")
        params = {"symbol": symbol.upper(), "fromId": from_id, "limit": HISTORICAL_PAGE_LIMIT}
        body = await self._get(HISTORICAL_TRADES_PATH, params, HISTORICAL_TRADES_WEIGHT)
        return sorted(_trade_decoder.decode(body), key=lambda r: r.id)

    async def server_time_ms(self) -> tuple[int, int]:
        """The venue clock (`/fapi/v1/time`) and the host clock at mid-request, both in ms."""
        # One attempt, short timeout: the caller keeps its last offset and tries later, so
        # a venue that is not up yet never delays the start.
        self.budget.spend(TIME_WEIGHT)
        t0 = time.time_ns()
        try:
            resp = await self._client.get(TIME_PATH, timeout=3.0)
        except httpx.HTTPError as exc:
            raise BackfillError(f"GET {TIME_PATH} failed: {exc!r}") from exc
        t1 = time.time_ns()
        if resp.status_code != 200:
            raise BackfillError(f"GET {TIME_PATH}: HTTP {resp.status_code}")
        return _time_decoder.decode(resp.content).serverTime, (t0 + t1) // 2_000_000

    async def fetch_recent_trades(
        self, symbol: str, from_id: int, to_id: int | None = None
    ) -> tuple[list[Trade], int]:
        rows = await self.recent_trades(symbol)
        now_ns = time.time_ns()
        out: list[Trade] = []
        for r in rows:
            if r.id < from_id or (to_id is not None and r.id > to_id):
                continue
            t = trade_to_trade(symbol.upper(), r, now_ns)
            if t is None:
                self.invalid_rows += 1
                continue
            out.append(t)
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
        headers = {API_KEY_HEADER: self._api_key} if self._api_key and path in KEYED_PATHS else {}
        attempt = 0
        while True:
            wait = self.budget.wait_s(weight)
            if wait > 0:
                log.info("REST weight budget reached; waiting %.1f s", wait)
                await self.sleep(wait)
            self.budget.spend(weight)
            self.requests += 1
            try:
                resp = await self._client.get(path, params=params, headers=headers)
            except httpx.HTTPError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise BackfillError(f"GET {path} failed: {exc}") from exc
                await self.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            self.budget.observe(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
            if resp.status_code == 200:
                return resp.content
            if headers and resp.status_code in (401, 403):
                # the body names the venue's code (-2014/-2015); the key itself is never logged
                raise KeyRejected(f"GET {path}: HTTP {resp.status_code}: {resp.text[:200]}")
            attempt += 1
            if resp.status_code in (429, 418):
                self.throttled += 1
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if attempt > self.max_retries or retry_after > self.max_retry_after_s:
                    raise Throttled(
                        f"GET {path}: HTTP {resp.status_code}, Retry-After "
                        f"{retry_after:.0f} s; giving up for now",
                        resp.status_code,
                        retry_after,
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
