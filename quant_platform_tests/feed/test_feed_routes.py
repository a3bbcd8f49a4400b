"""Route table, combined URLs, connection splitting and SUBSCRIBE pacing."""

from __future__ import annotations

import json

import pytest

from quant_platform.feed.routes import (
    MAX_STREAMS_PER_CONNECTION,
    STREAM_ROUTES,
    combined_url,
    plan_connections,
    raw_url,
    route_for,
    subscribe_messages,
)

HOST = "wss://fstream.binance.com"


def test_route_table() -> None:
    assert STREAM_ROUTES == {"trade": "/public", "aggTrade": "/market"}
    assert route_for("aggTrade") == "/market"
    with pytest.raises(ValueError, match="unknown stream kind"):
        route_for("depth")


def test_combined_and_raw_urls() -> None:
    assert (
        combined_url(HOST, "trade", ["BTCUSDT", "ETHUSDT"])
        == "wss://fstream.binance.com/public/stream?streams=btcusdt@trade/ethusdt@trade"
    )
    assert (
        combined_url(HOST + "/", "aggTrade", ["BTCUSDT"])
        == "wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade"
    )
    assert raw_url(HOST, "aggTrade", "BNBUSDT") == HOST + "/market/ws/bnbusdt@aggTrade"
    with pytest.raises(ValueError):
        combined_url(HOST, "trade", [])


def test_split_over_stream_limit() -> None:
    symbols = [f"S{i:04d}USDT" for i in range(2500)]
    plans = plan_connections(HOST, "trade", symbols)
    assert [len(p.streams) for p in plans] == [1024, 1024, 452]
    assert all(len(p.streams) <= MAX_STREAMS_PER_CONNECTION for p in plans)
    assert [s for p in plans for s in p.symbols] == symbols
    assert plans[0].route == "/public" and plans[0].url.startswith(HOST + "/public/stream?streams=")
    assert len(plan_connections(HOST, "aggTrade", ["BTCUSDT", "ETHUSDT"])) == 1
    with pytest.raises(ValueError):
        combined_url(HOST, "trade", symbols)


def test_subscribe_pacing_stays_under_ten_per_second() -> None:
    streams = [f"s{i}usdt@trade" for i in range(1000)]
    msgs = list(subscribe_messages(streams, per_message=100, messages_per_s=5))
    assert len(msgs) == 10
    delays = [d for d, _ in msgs]
    assert delays[0] == 0.0 and all(d == pytest.approx(0.2) for d in delays[1:])
    payloads = [json.loads(p) for _, p in msgs]
    assert [p["id"] for p in payloads] == list(range(1, 11))
    assert all(p["method"] == "SUBSCRIBE" for p in payloads)
    assert sum((p["params"] for p in payloads), []) == streams
    # Any sliding second holds at most 10 messages even at the maximum allowed rate.
    t, times = 0.0, []
    for d, _ in subscribe_messages(streams, per_message=10, messages_per_s=10):
        t += d
        times.append(t)
    assert all(sum(1 for x in times if s <= x < s + 1 - 1e-9) <= 10 for s in times)
    with pytest.raises(ValueError):
        list(subscribe_messages(streams, messages_per_s=11))
