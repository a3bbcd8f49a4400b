"""Which Binance USD-M route serves which stream, and how streams are spread over connections.

Sources (checked with the project's search tool):

* Binance docs, "USDⓈ-M Futures / Websocket Market Streams"
  (developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams):
  base `wss://fstream.binance.com`, raw `/ws/<stream>`, combined
  `/stream?streams=a/b` wrapped as `{"stream":..,"data":..}`, 10 incoming
  messages/s per connection, 1024 streams per connection, 24 h lifetime,
  ping every 3 min. Since the 2026 "Important WebSocket Change Notice" the
  streams are routed: `/public` (high frequency), `/market` (regular market
  data such as aggTrade, klines, markPrice), `/private` (user data).
* ccxt/node-binance-api#990 quotes the routed endpoints and examples
  (`/market/ws/bnbusdt@aggTrade`, `/market/stream?streams=bnbusdt@aggTrade/...`).
* binance/binance-public-data#472, Tucsky/aggr#444, bmoscon/cryptofeed#1128:
  unrouted legacy URLs return the SUBSCRIBE ack `{"result":null,"id":n}` and
  then send no market data.
* BYTEX-TRADE/bytex#7 and ccxt/ccxt#28083 (maintainer comment): `trade` is
  served on `/public`; cryptofeed#1128 saw TRADES silent when not on
  `/market`, and ccxt/ccxt#28091 first put `trade` under `/market`. Reports
  disagree, so the daemon watches every stream's liveness and can fall back
  to `aggTrade` (documented on `/market`); the table below follows the
  architecture: `trade` → `/public`, `aggTrade` → `/market`.
* Payload fields: aggTrade `e,E,s,a,p,q,f,l,T,m`; trade `e,E,T,s,t,p,q,X,m`
  (`X` = MARKET / LIQUIDATION / INSURANCE_FUND / ADL), confirmed against
  published typed clients (binance-sdk, binance-async-api, nautilus_binance docs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

STREAM_ROUTES: dict[str, str] = {"trade": "/public", "aggTrade": "/market"}
MAX_STREAMS_PER_CONNECTION = 1024
MAX_INCOMING_MESSAGES_PER_S = 10
# Stay under the venue's limit with margin: the client also sends pongs/pings.
SUBSCRIBE_MESSAGES_PER_S = 5
MAX_PARAMS_PER_SUBSCRIBE = 200


def route_for(kind: str) -> str:
    """The route for a stream kind; raises ValueError for a kind we do not route.

    Raises:
        ValueError: a stream kind this client does not route.
    """
    try:
        return STREAM_ROUTES[kind]
    except KeyError:
        raise ValueError(
            f"unknown stream kind {kind!r}: use one of {sorted(STREAM_ROUTES)}"
        ) from None


def stream_name(symbol: str, kind: str) -> str:
    """`BTCUSDT`, `trade` → `btcusdt@trade` (the venue wants lowercase symbols)."""
    route_for(kind)
    return f"{symbol.lower()}@{kind}"


def combined_url(host: str, kind: str, symbols: Sequence[str]) -> str:
    """`{host}{route}/stream?streams=a@kind/b@kind`; raises ValueError on too many streams.

    Raises:
        ValueError: no symbols, or more streams than one connection may carry.
    """
    if not symbols:
        raise ValueError("at least one symbol is needed")
    if len(symbols) > MAX_STREAMS_PER_CONNECTION:
        raise ValueError(
            f"{len(symbols)} streams exceed {MAX_STREAMS_PER_CONNECTION} per connection; "
            "use plan_connections"
        )
    streams = "/".join(stream_name(s, kind) for s in symbols)
    return f"{host.rstrip('/')}{route_for(kind)}/stream?streams={streams}"


def raw_url(host: str, kind: str, symbol: str) -> str:
    """Single raw stream URL `{host}{route}/ws/<stream>`."""
    return f"{host.rstrip('/')}{route_for(kind)}/ws/{stream_name(symbol, kind)}"


@dataclass(frozen=True)
class ConnectionPlan:
    """One connection: its route, URL and the streams it carries."""

    route: str
    url: str
    symbols: list[str]
    streams: list[str]


def plan_connections(
    host: str, kind: str, symbols: Sequence[str], max_streams: int = MAX_STREAMS_PER_CONNECTION
) -> list[ConnectionPlan]:
    """Split symbols into as few combined-stream connections as the stream limit allows.

    Raises:
        ValueError: `max_streams` outside 1..1024 (the venue's per-connection limit).
    """
    if max_streams < 1 or max_streams > MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"max_streams must be in 1..{MAX_STREAMS_PER_CONNECTION}")
    route = route_for(kind)
    plans = []
    syms = list(symbols)
    for i in range(0, len(syms), max_streams):
        chunk = syms[i : i + max_streams]
        plans.append(
            ConnectionPlan(
                route=route,
                url=combined_url(host, kind, chunk),
                symbols=chunk,
                streams=[stream_name(s, kind) for s in chunk],
            )
        )
    return plans


def subscribe_messages(
    streams: Sequence[str],
    *,
    method: str = "SUBSCRIBE",
    start_id: int = 1,
    per_message: int = MAX_PARAMS_PER_SUBSCRIBE,
    messages_per_s: float = SUBSCRIBE_MESSAGES_PER_S,
) -> Iterator[tuple[float, str]]:
    """Yield `(delay_before_s, payload_json)` for paced SUBSCRIBE/UNSUBSCRIBE messages.

    The venue drops a connection that sends more than 10 messages/s, so each
    message after the first waits `1/messages_per_s`.

    Raises:
        ValueError: the rate would break the venue's 10 messages/s limit.
    """
    if not 0 < messages_per_s <= MAX_INCOMING_MESSAGES_PER_S:
        raise ValueError(f"messages_per_s must be in (0, {MAX_INCOMING_MESSAGES_PER_S}]")
    if per_message < 1:
        raise ValueError("per_message must be >= 1")
    gap = 1.0 / messages_per_s
    for n, i in enumerate(range(0, len(streams), per_message)):
        payload = {
            "method": method,
            "params": list(streams[i : i + per_message]),
            "id": start_id + n,
        }
        yield (0.0 if n == 0 else gap), json.dumps(payload, separators=(",", ":"))
