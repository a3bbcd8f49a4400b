"""`ExchangeSimulator`: a local Binance USD-M look-alike, WebSocket and REST on one port.

WebSocket paths mirror the venue's 2026 routing: `/public/stream?streams=..`,
`/market/stream?streams=..`, `/public/ws/<stream>`, `/market/ws/<stream>`
(plus bare `/public/ws`, `/market/ws` for SUBSCRIBE-only use). A stream is fed
only on its route (`trade` → /public, `aggTrade` → /market); the legacy
unrouted `/stream` and `/ws` accept and acknowledge, then stay silent, as
the venue does. REST (`/fapi/v1/aggTrades`, `/fapi/v1/trades`,
`/fapi/v1/historicalTrades`, `/fapi/v1/klines`, `/fapi/v1/time`, `/health`) is
served from the same in-memory history the stream was built from, so a backfill
returns exactly the trades that were emitted (same ids, prices, times). As on
Binance USD-M: aggTrades by `fromId` or by a window under one hour (never both),
limit 1..1000 (default 500), weight 20; trades returns only the latest `limit`
(max 1000), weight 5; a spent per-minute weight budget answers 429 with
`Retry-After`; `fail_next_rest` forces 429/418. With `api_keys`, historicalTrades
(MARKET_DATA) wants one of them in `X-MBX-APIKEY`, as the venue does.
`clock_offset_ms` runs the venue's clock ahead of (or behind) the host's, for skew tests.

With `history_s` the synthetic venue also has a past: at start it generates the
last `history_s` seconds of trades (at `history_rate`) on the same market model
and ids the live stream then continues, so a client can seed hours of data
through REST exactly as it would from the real venue.

Funding (simulator/funding.py): `/fapi/v1/fundingRate` serves settled rates every
8 h and `<symbol>@markPrice` on /market sends the rate for the next funding time
every `mark_price_interval_s`; both from one deterministic rate per (symbol,
funding time), read against `clock_ms` (wall clock unless a test speeds it up).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from quant_platform.feed.routes import MAX_INCOMING_MESSAGES_PER_S, MAX_STREAMS_PER_CONNECTION
from quant_platform.feed.routes import route_for as _route_for
from quant_platform.simulator.arrivals import SimAgg, SimFill, SimOrder, SyntheticSource
from quant_platform.simulator.faults import FaultConfig, FaultState
from quant_platform.simulator.funding import (
    FUNDING_PATH,
    MARK_PRICE_KINDS,
    funding_rate_rows,
    mark_price_payload,
)
from quant_platform.simulator.market import MarketModel

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
ROUTES = ("public", "market")
KINDS = ("trade", "aggTrade")
WEIGHTS = {
    "/fapi/v1/aggTrades": 20,
    "/fapi/v1/trades": 5,
    "/fapi/v1/historicalTrades": 20,
    "/fapi/v1/klines": 5,
    FUNDING_PATH: 1,
}
KLINE_INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


# --- wire format ---------------------------------------------------------------------------
def trade_payload(f: SimFill, event_ms: int | None = None) -> str:
    """`<symbol>@trade` payload exactly as the venue sends it."""
    return (
        f'{{"e":"trade","E":{event_ms or f.time_ms},"T":{f.time_ms},"s":"{f.symbol}",'
        f'"t":{f.trade_id},"p":"{f.price}","q":"{f.qty}","X":"{f.fill_type}",'
        f'"m":{"true" if f.buyer_is_maker else "false"}}}'
    )


def agg_payload(a: SimAgg, event_ms: int | None = None) -> str:
    """`<symbol>@aggTrade` payload exactly as the venue sends it."""
    return (
        f'{{"e":"aggTrade","E":{event_ms or a.time_ms},"a":{a.agg_id},"s":"{a.symbol}",'
        f'"p":"{a.price}","q":"{a.qty}","f":{a.first_id},"l":{a.last_id},"T":{a.time_ms},'
        f'"m":{"true" if a.buyer_is_maker else "false"}}}'
    )


def combined(stream: str, payload: str) -> str:
    return f'{{"stream":"{stream}","data":{payload}}}'


def order_frames(order: SimOrder, kind: str, wrapped: bool) -> Iterator[str]:
    """Frames one order produces on a `kind` stream (combined wrapper if `wrapped`)."""
    if kind == "trade":
        stream = f"{order.agg.symbol.lower()}@trade"
        for f in order.fills:
            yield combined(stream, trade_payload(f)) if wrapped else trade_payload(f)
    else:
        p = agg_payload(order.agg)
        yield combined(f"{order.agg.symbol.lower()}@aggTrade", p) if wrapped else p


def rest_agg(a: SimAgg) -> dict[str, object]:
    return {
        "a": a.agg_id,
        "p": a.price,
        "q": a.qty,
        "f": a.first_id,
        "l": a.last_id,
        "T": a.time_ms,
        "m": a.buyer_is_maker,
    }


def rest_trade(f: SimFill) -> dict[str, object]:
    quote = float(f.price) * float(f.qty)
    return {
        "id": f.trade_id,
        "price": f.price,
        "qty": f.qty,
        "quoteQty": f"{quote:.8f}",
        "time": f.time_ms,
        "isBuyerMaker": f.buyer_is_maker,
    }


# --- connections -----------------------------------------------------------------------------
@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    route: str  # "public", "market" or "legacy"
    wrapped: bool  # /stream (combined wrapper) vs /ws (bare payloads)
    faults: FaultState
    subs: set[str] = field(default_factory=set)
    wants: set[tuple[str, str]] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    sent: int = 0
    dropped: bool = False
    muted: set[str] = field(default_factory=set)  # fed, then went quiet (fault)
    mute_done: bool = False


def _parse_ws_path(path: str) -> tuple[str, bool, list[str]] | None:
    """`/market/stream?streams=a/b` → ("market", True, [a, b]); None if not a stream path."""
    parts = urlsplit(path)
    segs = [s for s in parts.path.split("/") if s]
    route = "legacy"
    if segs and segs[0] in ROUTES:
        route = segs.pop(0)
    if not segs:
        return None
    if segs[0] == "stream" and len(segs) == 1:
        q = parse_qs(parts.query)
        raw = q.get("streams", [""])[0]
        return route, True, [s for s in raw.split("/") if s]
    if segs[0] == "ws":
        return route, False, [s for s in "/".join(segs[1:]).split("/") if s]
    return None


class ExchangeSimulator:
    """Local venue. Synthetic by default; pass `source` (e.g. a ReplaySource) to replay.

    Generation starts when `start_subscribers` clients (default 1) subscribe to
    streams they will be fed (`start_when_subscribed`), then runs on whether or not anyone listens,
    like a real market. `total_trades` stops it after exactly that many fills.
    """

    def __init__(
        self,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float = 20.0,
        seed: int = 7,
        total_trades: int | None = None,
        faults: FaultConfig | None = None,
        source: Iterable[SimOrder] | None = None,
        start_when_subscribed: bool = True,
        start_subscribers: int = 1,
        history_limit: int = 1_000_000,
        weight_limit_per_min: int = 2400,
        ping_interval_s: float | None = 180.0,
        history_s: float = 0.0,
        history_rate: float | None = None,
        mark_price_interval_s: float = 1.0,
        clock_ms: Callable[[], int] | None = None,
        clock_offset_ms: int = 0,
        api_keys: frozenset[str] | None = None,
    ) -> None:
        self.symbols = tuple(s.upper() for s in symbols)
        self.host = host
        self._port = port
        self.rate = rate
        self.seed = seed
        self.faults = faults or FaultConfig()
        self._synthetic: SyntheticSource | None = None
        self._history: SyntheticSource | None = None
        self.history_s = history_s
        if source is None:
            model = MarketModel(list(self.symbols), seed=seed)
            if history_s > 0:
                self._history = SyntheticSource(
                    list(self.symbols),
                    rate=history_rate or rate,
                    seed=seed,
                    model=model,
                    stop_s=history_s,
                )
            self._synthetic = SyntheticSource(
                list(self.symbols),
                rate=rate,
                seed=seed,
                total_trades=total_trades,
                model=model,
                start_s=history_s,
            )
            if self._history is not None:
                self._synthetic.next_trade_id = self._history.next_trade_id
                self._synthetic.next_agg_id = self._history.next_agg_id
            source = self._synthetic
        self._source = source
        self.start_when_subscribed = start_when_subscribed
        self.start_subscribers = start_subscribers
        self.history_limit = history_limit
        self.weight_limit = weight_limit_per_min
        self.ping_interval_s = ping_interval_s
        self.clock_offset_ms = clock_offset_ms
        # None: historicalTrades answers anyone; a set: it wants one of these keys in
        # X-MBX-APIKEY (401 -2014 without one, 401 -2015 for another), as the venue does.
        self.api_keys = api_keys
        self.keyed_requests = 0  # historicalTrades requests that carried an accepted key
        self._fills: dict[str, list[SimFill]] = {s: [] for s in self.symbols}
        self._aggs: dict[str, list[SimAgg]] = {s: [] for s in self.symbols}
        self._clients: set[_Client] = set()
        self._server: Server | None = None
        self._gen_task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.finished = asyncio.Event()
        self.generated = 0
        self.sent_count = 0
        self.connections_opened = 0
        self.rest_requests = 0
        self._forced: list[tuple[int, float]] = []
        self._weight_window = -1
        self._weight_used = 0
        self._conn_seq = 0
        # funding (simulator/funding.py): `clock_ms` lets tests cross funding times fast
        self.mark_price_interval_s = mark_price_interval_s
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._mark_task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def _build_history(self) -> None:
        """Emit the past `history_s` seconds into the REST history, ending now (once)."""
        src, self._history = self._history, None
        if src is None:
            return
        t0 = time.perf_counter()
        origin_ms = time.time_ns() // 1_000_000 + self.clock_offset_ms - int(self.history_s * 1000)
        n = 0
        for order in src:
            ms = origin_ms + int(order.offset_s * 1000)
            order.agg.time_ms = ms
            for f in order.fills:
                f.time_ms = ms
            self._fills[order.agg.symbol].extend(order.fills)
            self._aggs[order.agg.symbol].append(order.agg)
            n += len(order.fills)
        log.info(
            "simulator history: %d trades over the last %.1f h in %.1f s",
            n,
            self.history_s / 3600,
            time.perf_counter() - t0,
        )

    async def start(self) -> None:
        self._build_history()
        self._subscribed = asyncio.Event()
        self.finished = asyncio.Event()
        self._server = await serve(
            self._handler,
            self.host,
            self._port,
            process_request=self._process_request,
            ping_interval=self.ping_interval_s,
            ping_timeout=600 if self.ping_interval_s else None,
            max_size=1 << 16,
            close_timeout=1,
        )
        self._gen_task = asyncio.create_task(self._generate(), name="sim-generate")
        self._mark_task = asyncio.create_task(self._mark_prices(), name="sim-mark-price")
        log.info(
            "exchange simulator on %s (REST %s), symbols %s",
            self.url,
            self.rest_url,
            ",".join(self.symbols),
        )

    async def stop(self) -> None:
        if self._mark_task is not None:
            self._mark_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._mark_task
            self._mark_task = None
        if self._gen_task is not None:
            self._gen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gen_task
            self._gen_task = None
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- test hooks --------------------------------------------------------------------------
    def history(self, symbol: str) -> list[SimFill]:
        """Every fill emitted for `symbol` (up to `history_limit`), in id order."""
        return list(self._fills.get(symbol.upper(), ()))

    def agg_history(self, symbol: str) -> list[SimAgg]:
        return list(self._aggs.get(symbol.upper(), ()))

    def inject_dislocation(self, symbol: str, pct: float) -> None:
        """Shift `symbol`'s price level by `pct` percent (2.0 → +2 %); synthetic mode only."""
        if self._synthetic is None:
            raise RuntimeError("dislocations need the synthetic source")
        self._synthetic.dislocate(symbol.upper(), pct)

    def drop_all_connections(self) -> int:
        """Abort every client's TCP connection (no close frame); returns how many."""
        n = 0
        for c in list(self._clients):
            self._abort(c)
            n += 1
        return n

    def fail_next_rest(self, n: int = 1, status: int = 429, retry_after_s: float = 1.0) -> None:
        """The next `n` REST calls answer `status` (429/418) with `Retry-After`."""
        self._forced.extend([(status, retry_after_s)] * n)

    async def halt(self) -> None:
        """Stop generating (the market closes); REST and connections stay up."""
        if self._gen_task is not None:
            self._gen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gen_task
            self._gen_task = None
        self.finished.set()

    async def wait_done(self, timeout: float = 10.0) -> None:
        """Until a finite source (total_trades, replay) has emitted everything."""
        await asyncio.wait_for(self.finished.wait(), timeout)

    @property
    def connections(self) -> int:
        return len(self._clients)

    # --- generation ----------------------------------------------------------------------------
    async def _generate(self) -> None:
        if self.start_when_subscribed:
            await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        burst = 0
        for order in self._source:
            delay = t0 + order.offset_s - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
                burst = 0
            else:
                burst += 1
                if burst >= 256:  # never starve the loop at very high rates
                    await asyncio.sleep(0)
                    burst = 0
            self._emit(order)
        self.finished.set()
        log.info("simulator source exhausted after %d trades", self.generated)

    def _emit(self, order: SimOrder) -> None:
        now_ms = time.time_ns() // 1_000_000 + self.clock_offset_ms
        symbol = order.agg.symbol
        if symbol not in self._fills:
            self._fills[symbol] = []
            self._aggs[symbol] = []
        order.agg.time_ms = now_ms
        for f in order.fills:
            f.time_ms = now_ms
        fills = self._fills[symbol]
        fills.extend(order.fills)
        aggs = self._aggs[symbol]
        aggs.append(order.agg)
        if len(fills) > self.history_limit * 1.1:
            del fills[: len(fills) - self.history_limit]
            del aggs[: max(0, len(aggs) - self.history_limit)]
        self.generated += len(order.fills)
        cache: dict[tuple[str, bool], list[str]] = {}
        for c in self._clients:
            for kind in KINDS:
                if (symbol, kind) in c.wants:
                    key = (kind, c.wrapped)
                    frames = cache.get(key)
                    if frames is None:
                        frames = cache[key] = list(order_frames(order, kind, c.wrapped))
                    for fr in frames:
                        c.queue.put_nowait(fr)

    async def _mark_prices(self) -> None:
        """`<symbol>@markPrice` on /market: rate for the next funding time, every interval."""
        while True:
            await asyncio.sleep(self.mark_price_interval_s)
            now_ms = self.clock_ms()
            for c in list(self._clients):
                if c.route != "market":
                    continue
                for stream in c.subs:
                    sym, _, kind = stream.partition("@")
                    fills = self._fills.get(sym.upper())
                    if kind not in MARK_PRICE_KINDS or fills is None:
                        continue
                    price = float(fills[-1].price) if fills else 1.0
                    payload = mark_price_payload(sym.upper(), now_ms, price, self.seed)
                    c.queue.put_nowait(combined(stream, payload) if c.wrapped else payload)

    # --- WebSocket side -------------------------------------------------------------------------
    def _deliverable(self, client: _Client, stream: str) -> tuple[str, str] | None:
        if client.route == "legacy" or stream in self.faults.silent_streams:
            return None
        if stream in client.muted:
            return None
        sym, _, kind = stream.partition("@")
        if kind not in KINDS or sym != sym.lower() or sym.upper() not in self._fills:
            return None
        if _route_for(kind) != f"/{client.route}":
            return None  # e.g. @trade on /market: acknowledged, never fed
        return sym.upper(), kind

    def _recompute(self, client: _Client) -> None:
        client.wants = {w for s in client.subs if (w := self._deliverable(client, s)) is not None}
        if sum(1 for c in self._clients if c.wants) >= self.start_subscribers:
            self._subscribed.set()

    async def _handler(self, ws: ServerConnection) -> None:
        parsed = _parse_ws_path(ws.request.path if ws.request else "/")
        if parsed is None:  # process_request already refused these
            return
        route, wrapped, streams = parsed
        loop = asyncio.get_running_loop()
        self._conn_seq += 1
        state = FaultState(
            self.faults, loop.time(), random.Random(self.seed * 1000 + self._conn_seq)
        )
        client = _Client(ws, route, wrapped, state, set(streams))
        self._clients.add(client)
        self.connections_opened += 1
        self._recompute(client)
        sender = asyncio.create_task(self._sender(client))
        window_start, count = loop.time(), 0
        try:
            async for msg in ws:
                now = loop.time()
                if now - window_start >= 1.0:
                    window_start, count = now, 0
                count += 1
                if count > MAX_INCOMING_MESSAGES_PER_S:
                    await ws.close(1008, "Too many requests")
                    break
                reply = self._control(client, msg)
                if reply is not None:
                    await ws.send(reply)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    def _control(self, client: _Client, msg: str | bytes) -> str | None:
        try:
            req = json.loads(msg)
            method, rid = req["method"], req.get("id")
        except (ValueError, TypeError, KeyError):
            return json.dumps(
                {
                    "error": {
                        "code": 3,
                        "msg": "Invalid JSON: expected a request object with method",
                    },
                    "id": None,
                }
            )
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return json.dumps(
                    {"error": {"code": 2, "msg": "Invalid request: params"}, "id": rid}
                )
            if method == "SUBSCRIBE":
                if len(client.subs | set(params)) > MAX_STREAMS_PER_CONNECTION:
                    return json.dumps({"error": {"code": 2, "msg": "too many streams"}, "id": rid})
                client.subs.update(params)
                client.muted.difference_update(params)  # a fresh subscription feeds again
            else:
                client.subs.difference_update(params)
            self._recompute(client)
            return json.dumps({"result": None, "id": rid})
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": sorted(client.subs), "id": rid})
        return json.dumps({"error": {"code": 2, "msg": f"Unknown method {method}"}, "id": rid})

    def _abort(self, client: _Client) -> None:
        client.dropped = True
        transport = client.ws.transport
        if transport is not None:
            transport.abort()

    async def _sender(self, client: _Client) -> None:
        if self.faults.any_connection_faults:
            await self._send_with_faults(client)
        else:
            await self._send_batched(client)

    async def _send_with_faults(self, client: _Client) -> None:
        """One frame at a time, so drops, stalls and mutes land on exact frame counts."""
        loop = asyncio.get_running_loop()
        st = client.faults
        ws = client.ws
        try:
            while True:
                try:
                    frame = await asyncio.wait_for(client.queue.get(), 0.1)
                except TimeoutError:
                    frame = None
                now = loop.time()
                mute = self.faults.mute_streams
                if mute and not client.mute_done and now - st.opened_at >= self.faults.mute_after_s:
                    client.mute_done = True
                    client.muted = set(mute) & client.subs
                    log.info("simulator: muting %s (fault)", ", ".join(sorted(client.muted)))
                    self._recompute(client)
                if st.should_drop(now):
                    log.info("simulator: dropping a connection after %d frames", client.sent)
                    self._abort(client)
                    return
                if frame is None:
                    # An idle stream releases a held-back frame: late, never lost.
                    for out in st.flush():
                        await ws.send(out)
                        client.sent += 1
                        st.sent += 1
                        self.sent_count += 1
                    continue
                until = st.stall_until(now)
                if until is not None:
                    await asyncio.sleep(until - now)
                for out in st.apply(frame):
                    await ws.send(out)
                    client.sent += 1
                    st.sent += 1
                    self.sent_count += 1
        except (websockets.ConnectionClosed, OSError):
            return

    async def _send_batched(self, client: _Client, max_batch: int = 1024) -> None:
        """No faults configured: everything queued goes out as one write, one frame per trade.

        Each trade is still its own WebSocket frame, as on the venue; only the socket
        write and the flow-control wait are shared by the frames queued meanwhile (a
        per-frame `send` capped the simulator near 12,000 frames/s on a loaded 2-core host).
        """
        ws, queue, protocol = client.ws, client.queue, client.ws.protocol
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                async with ws.send_context():
                    for frame in batch:
                        protocol.send_text(frame.encode())
                client.sent += len(batch)
                self.sent_count += len(batch)
        except (websockets.ConnectionClosed, OSError):
            return

    # --- REST side -----------------------------------------------------------------------------
    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        is_upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if is_upgrade:
            parsed = _parse_ws_path(request.path)
            if parsed is None:
                return conn.respond(HTTPStatus.NOT_FOUND, "unknown stream path\n")
            if len(parsed[2]) > MAX_STREAMS_PER_CONNECTION:
                return conn.respond(HTTPStatus.BAD_REQUEST, "too many streams\n")
            return None
        self.rest_requests += 1
        status, body, extra = self._rest(
            path, parse_qs(urlsplit(request.path).query), request.headers.get("X-MBX-APIKEY")
        )
        resp = conn.respond(status, json.dumps(body, separators=(",", ":")))
        extra = {"Content-Type": "application/json", **extra}
        for k, v in extra.items():
            if k in resp.headers:  # Headers is a multidict: replace, never append
                del resp.headers[k]
            resp.headers[k] = v
        return resp

    def _spend(self, weight: int) -> tuple[bool, float]:
        now = time.time()
        window = int(now // 60)
        if window != self._weight_window:
            self._weight_window, self._weight_used = window, 0
        self._weight_used += weight
        return self._weight_used <= self.weight_limit, (window + 1) * 60 - now

    def _key_refusal(self, path: str, key: str | None) -> tuple[int, object, dict[str, str]] | None:
        """The venue's answer to a MARKET_DATA request without an accepted key, or None."""
        if path != "/fapi/v1/historicalTrades" or self.api_keys is None:
            return None
        if not key:
            return 401, {"code": -2014, "msg": "API-key format invalid."}, {}
        if key not in self.api_keys:
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions."}, {}
        self.keyed_requests += 1
        return None

    def _rest(
        self, path: str, q: dict[str, list[str]], api_key: str | None = None
    ) -> tuple[int, object, dict[str, str]]:
        if path == "/health":
            return (
                200,
                {
                    "status": "ok",
                    "symbols": list(self.symbols),
                    "generated": self.generated,
                    "sent": self.sent_count,
                    "connections": len(self._clients),
                },
                {},
            )
        if path == "/fapi/v1/ping":
            return 200, {}, {}
        if path == "/fapi/v1/time":
            return 200, {"serverTime": time.time_ns() // 1_000_000 + self.clock_offset_ms}, {}
        if path not in WEIGHTS:
            return 404, {"code": -1000, "msg": "Unknown path."}, {}
        refused = self._key_refusal(path, api_key)
        if refused is not None:
            return refused
        ok, reset_s = self._spend(WEIGHTS[path])
        headers = {"X-MBX-USED-WEIGHT-1M": str(self._weight_used)}
        if self._forced:
            status, retry = self._forced.pop(0)
            headers["Retry-After"] = f"{retry:g}"
            return status, {"code": -1003, "msg": "Too many requests (simulated)."}, headers
        if not ok:
            headers["Retry-After"] = str(max(1, round(reset_s)))
            return 429, {"code": -1003, "msg": "Too much request weight used."}, headers
        try:
            return 200, self._rest_data(path, q), headers
        except _RestError as err:
            return 400, {"code": err.code, "msg": err.msg}, headers

    def _rest_data(self, path: str, q: dict[str, list[str]]) -> list[dict[str, object]]:
        def arg(name: str) -> int | None:
            v = q.get(name, [None])[0]
            if v is None:
                return None
            try:
                return int(v)
            except ValueError:
                raise _RestError(
                    -1100, f"Illegal characters found in parameter '{name}'."
                ) from None

        symbol = (q.get("symbol", [""])[0]).upper()
        if symbol not in self._fills:
            raise _RestError(-1121, "Invalid symbol.")
        limit = arg("limit") or 500
        if not 1 <= limit <= (1500 if path == "/fapi/v1/klines" else 1000):
            raise _RestError(-1130, "Invalid limit: 1..1000 (klines 1..1500).")
        if path == "/fapi/v1/klines":
            return self._klines(symbol, q.get("interval", [""])[0], arg)
        if path == FUNDING_PATH:
            start, end = arg("startTime"), arg("endTime")
            return funding_rate_rows(symbol, start, end, limit, self.clock_ms(), self.seed)
        if path == "/fapi/v1/trades":
            return [rest_trade(f) for f in self._fills[symbol][-limit:]]
        if path == "/fapi/v1/historicalTrades":
            return self._historical_trades(symbol, limit, arg("fromId"))
        return self._agg_trades(symbol, limit, arg("fromId"), arg("startTime"), arg("endTime"))

    def _historical_trades(
        self, symbol: str, limit: int, from_id: int | None
    ) -> list[dict[str, object]]:
        """`/fapi/v1/historicalTrades`: the newest fills, or `limit` from `fromId` on."""
        if limit > 500:
            raise _RestError(-1130, "Invalid limit: 1..500.")
        fills = self._fills[symbol]
        if from_id is None:
            return [rest_trade(f) for f in fills[-limit:]]
        i = bisect.bisect_left(fills, from_id, key=lambda f: f.trade_id)
        return [rest_trade(f) for f in fills[i : i + limit]]

    def _agg_trades(
        self,
        symbol: str,
        limit: int,
        from_id: int | None,
        start: int | None,
        end: int | None,
    ) -> list[dict[str, object]]:
        """`/fapi/v1/aggTrades`: by id, by time window (at most one hour), or the newest."""
        aggs = self._aggs[symbol]
        if from_id is not None and (start is not None or end is not None):
            raise _RestError(-1128, "fromId cannot be combined with startTime/endTime.")
        if from_id is not None:
            i = bisect.bisect_left(aggs, from_id, key=lambda a: a.agg_id)
            return [rest_agg(a) for a in aggs[i : i + limit]]
        if start is not None or end is not None:
            if start is not None and end is not None and not 0 <= end - start < 3_600_000:
                raise _RestError(-1127, "More than 1 hour between startTime and endTime.")
            lo = start if start is not None else (end or 0) - 3_600_000
            hi = end if end is not None else lo + 3_600_000
            i = bisect.bisect_left(aggs, lo, key=lambda a: a.time_ms)
            out = []
            for a in aggs[i:]:
                if a.time_ms > hi or len(out) >= limit:
                    break
                out.append(rest_agg(a))
            return out
        return [rest_agg(a) for a in aggs[-limit:]]

    def _klines(self, symbol: str, interval: str, arg: Callable[[str], int | None]) -> list[list]:
        """Bars in the venue's kline format, aggregated from the same fills REST serves."""
        width = KLINE_INTERVALS_MS.get(interval)
        if width is None:
            raise _RestError(-1120, f"Invalid interval {interval!r}: use one of 1m, 5m, 1h, ...")
        limit = arg("limit") or 500
        start, end = arg("startTime"), arg("endTime")
        now = time.time_ns() // 1_000_000 + self.clock_offset_ms
        if start is None:
            last = ((end if end is not None else now) // width) * width
            start = last - (limit - 1) * width
        start = (start // width) * width
        hi = end if end is not None else start + limit * width - 1
        fills = self._fills[symbol]
        i = bisect.bisect_left(fills, start, key=lambda f: f.time_ms)
        bars: list[list] = []
        cur: list | None = None
        for f in fills[i:]:
            if f.time_ms > hi:
                break
            b = (f.time_ms // width) * width
            p, qty = float(f.price), float(f.qty)
            if cur is None or cur[0] != b:
                if len(bars) >= limit:
                    break
                cur = [b, p, p, p, p, 0.0, b + width - 1, 0.0, 0, 0.0, 0.0]
                bars.append(cur)
            cur[2] = max(cur[2], p)
            cur[3] = min(cur[3], p)
            cur[4] = p
            cur[5] += qty
            cur[7] += p * qty
            cur[8] += 1
            if not f.buyer_is_maker:
                cur[9] += qty
                cur[10] += p * qty
        return [
            [
                b[0],
                f"{b[1]}",
                f"{b[2]}",
                f"{b[3]}",
                f"{b[4]}",
                f"{b[5]:.8f}",
                b[6],
                f"{b[7]:.8f}",
                b[8],
                f"{b[9]:.8f}",
                f"{b[10]:.8f}",
                "0",
            ]
            for b in bars
        ]


class _RestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
