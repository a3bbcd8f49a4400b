"""The exchange simulator end to end: a real websockets client against the real server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from quant_platform.domain.trade import Trade
from quant_platform.feed.backfill import RestBackfiller
from quant_platform.feed.continuity import TradeIdTracker
from quant_platform.feed.decoder import TradeDecoder
from quant_platform.feed.routes import combined_url
from quant_platform.simulator.faults import FaultConfig
from quant_platform.simulator.replay import ReplaySource, read_csv
from quant_platform.simulator.server import ExchangeSimulator

T = TypeVar("T")
SYMS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]


def run(factory: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(main())


async def collect(ws: ClientConnection, n: int | None = None, idle_s: float = 0.5) -> list[str]:
    """Frames until `n` arrived, the peer closed, or nothing came for `idle_s`."""
    out: list[str] = []
    while n is None or len(out) < n:
        try:
            msg = await asyncio.wait_for(ws.recv(), idle_s)
        except (TimeoutError, websockets.ConnectionClosed):
            break
        out.append(msg if isinstance(msg, str) else msg.decode())
    return out


def decode_all(frames: list[str], symbols: list[str] = SYMS) -> tuple[list[Trade], TradeDecoder]:
    dec = TradeDecoder(symbols)
    trades = []
    for f in frames:
        r = dec.decode(f, time.time_ns())
        if r.trade is not None:
            trades.append(r.trade)
    return trades, dec


def test_exactly_n_trades_in_binance_wire_format() -> None:
    async def main() -> None:
        async with ExchangeSimulator(
            SYMS, rate=2000, total_trades=300, seed=11, start_subscribers=2
        ) as sim:
            async with (
                connect(combined_url(sim.url, "trade", SYMS), close_timeout=1) as ws_t,
                connect(combined_url(sim.url, "aggTrade", SYMS), close_timeout=1) as ws_a,
            ):
                frames_t, frames_a = await asyncio.gather(collect(ws_t), collect(ws_a))
            assert sim.generated == 300
            first = json.loads(frames_t[0])
            assert set(first) == {"stream", "data"} and first["stream"].endswith("@trade")
            assert list(first["data"]) == ["e", "E", "T", "s", "t", "p", "q", "X", "m"]
            assert isinstance(first["data"]["p"], str) and isinstance(first["data"]["q"], str)
            assert list(json.loads(frames_a[0])["data"]) == [
                "e",
                "E",
                "a",
                "s",
                "p",
                "q",
                "f",
                "l",
                "T",
                "m",
            ]
            trades, dec = decode_all(frames_t)
            aggs, dec_a = decode_all(frames_a)
            assert len(trades) == 300 and not dec.rejected and not dec_a.rejected
            assert (
                sum(json.loads(f)["data"]["l"] - json.loads(f)["data"]["f"] + 1 for f in frames_a)
                == 300
            )
            for s in SYMS:
                ids = [t.trade_id for t in trades if t.symbol == s]
                assert ids == list(range(ids[0], ids[0] + len(ids)))
                assert ids == [f.trade_id for f in sim.history(s)]
                agg_ids = [t.trade_id for t in aggs if t.symbol == s]
                assert agg_ids == list(range(agg_ids[0], agg_ids[0] + len(agg_ids)))
                a_hist = sim.agg_history(s)
                assert a_hist[0].first_id == ids[0] and a_hist[-1].last_id == ids[-1]
            levels = {t.symbol: t.price for t in trades}
            assert 50_000 < levels["BTCUSDT"] < 70_000 and 2_500 < levels["ETHUSDT"] < 3_500
            assert sim.sent_count == 300 + len(frames_a)

    run(main)


def test_routing_legacy_and_wrong_route_are_silent() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS, rate=1000, total_trades=200) as sim:
            u = sim.url
            async with (
                connect(f"{u}/stream?streams=btcusdt@trade", close_timeout=1) as legacy,
                connect(f"{u}/market/stream?streams=btcusdt@trade", close_timeout=1) as t_market,
                connect(f"{u}/public/stream?streams=btcusdt@aggTrade", close_timeout=1) as a_public,
                connect(f"{u}/market/ws/btcusdt@aggTrade", close_timeout=1) as a_market,
                connect(f"{u}/public/stream?streams=btcusdt@trade", close_timeout=1) as good,
            ):
                await legacy.send(
                    json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 1})
                )
                assert json.loads(await legacy.recv()) == {"result": None, "id": 1}
                got = await asyncio.gather(
                    *(collect(w) for w in (legacy, t_market, a_public, a_market, good))
                )
            assert [len(g) for g in got[:3]] == [0, 0, 0]
            assert got[3] and json.loads(got[3][0])["e"] == "aggTrade"  # raw /ws: bare payloads
            trades, _ = decode_all(got[4])
            assert trades and all(t.symbol == "BTCUSDT" and t.kind == "trade" for t in trades)

    run(main)


def test_ack_then_silent_streams_and_control_methods() -> None:
    async def main() -> None:
        faults = FaultConfig(silent_streams=frozenset({"ethusdt@trade"}))
        async with ExchangeSimulator(SYMS, rate=1000, total_trades=300, faults=faults) as sim:
            async with connect(f"{sim.url}/public/ws", close_timeout=1) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "method": "SUBSCRIBE",
                            "params": ["btcusdt@trade", "ethusdt@trade"],
                            "id": 7,
                        }
                    )
                )
                assert json.loads(await ws.recv()) == {"result": None, "id": 7}
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
                frames = await collect(ws)
            replies = [json.loads(f) for f in frames if '"id"' in f and '"result"' in f]
            assert replies == [{"result": ["btcusdt@trade", "ethusdt@trade"], "id": 8}]
            trades, dec = decode_all(frames)
            assert trades and {t.symbol for t in trades} == {"BTCUSDT"}
            assert dec.acks["result"] == 1

    run(main)


def test_incoming_message_limit_closes_the_connection() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS) as sim:
            async with connect(f"{sim.url}/public/ws", close_timeout=1) as ws:
                for i in range(12):
                    await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
                await collect(ws, idle_s=1.0)
                assert ws.close_code == 1008

    run(main)


def test_drop_after_n_and_drop_all() -> None:
    async def main() -> None:
        faults = FaultConfig(drop_after_n=40)
        async with ExchangeSimulator(SYMS, rate=2000, faults=faults) as sim:
            async with connect(combined_url(sim.url, "trade", SYMS), close_timeout=1) as ws:
                frames = await collect(ws, idle_s=2.0)
                assert len(frames) == 40
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
        async with ExchangeSimulator(SYMS, rate=500) as sim:
            async with connect(combined_url(sim.url, "aggTrade", SYMS), close_timeout=1) as ws:
                assert await collect(ws, n=5)
                assert sim.drop_all_connections() == 1
                await collect(ws, idle_s=1.0)
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()

    run(main)


def test_drop_every_s_and_stall() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS, rate=500, faults=FaultConfig(drop_every_s=0.5)) as sim:
            async with connect(combined_url(sim.url, "trade", SYMS), close_timeout=1) as ws:
                t0 = time.monotonic()
                frames = await collect(ws, idle_s=3.0)
                assert frames and 0.4 < time.monotonic() - t0 < 2.5
        stall = FaultConfig(stall_s=0.6, stall_every_s=0.3)
        async with ExchangeSimulator(SYMS, rate=500, faults=stall) as sim:
            async with connect(combined_url(sim.url, "trade", SYMS), close_timeout=1) as ws:
                times = []
                t0 = time.monotonic()
                while time.monotonic() - t0 < 1.5:
                    await asyncio.wait_for(ws.recv(), 2)
                    times.append(time.monotonic())
                gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
                assert max(gaps) > 0.4  # the stall is silence, then the backlog

    run(main)


def test_frame_faults_are_counted_not_fatal() -> None:
    async def main() -> None:
        faults = FaultConfig(malformed_ratio=0.1, duplicate_ratio=0.1, out_of_order_ratio=0.1)
        async with ExchangeSimulator(SYMS, rate=2000, total_trades=400, faults=faults) as sim:
            async with connect(combined_url(sim.url, "trade", SYMS), close_timeout=1) as ws:
                frames = await collect(ws)
        trades, dec = decode_all(frames)
        assert sum(dec.rejected.values()) > 10
        tracker = TradeIdTracker()
        kept = [t for t in trades if not tracker.observe(t).duplicate]
        assert tracker.duplicates > 10
        assert sorted((t.symbol, t.trade_id) for t in kept) == sorted(
            (s, f.trade_id) for s in SYMS for f in sim.history(s)
        )
        assert tracker.open_gaps() == []  # every out-of-order trade filled its hole

    run(main)


async def _backfill(
    sim: ExchangeSimulator,
    tracker: TradeIdTracker,
    held: dict[tuple[str, int], Trade],
    last_before: dict,
) -> None:
    """Fill the reconnect gap over REST, as the daemon does, into `held`."""

    def keep(got: list[Trade]) -> None:
        for t in got:
            if tracker.fill(t):
                held[(t.symbol, t.trade_id)] = t

    async with RestBackfiller(sim.rest_url) as bf:
        for (symbol, kind), last in last_before.items():
            got, missing = await bf.fetch(symbol, kind, last + 1)
            assert missing == 0
            keep(got)
        for s in SYMS:  # symbols first seen after the reconnect
            if (s, "aggTrade") in last_before:
                continue
            first = sim.agg_history(s)[0].agg_id
            if min(i for (x, i) in held if x == s) > first:
                got, _ = await bf.fetch(s, "aggTrade", first)
                keep(got)


def test_reconnect_gap_backfilled_over_rest_with_the_same_trades() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS, rate=1000, total_trades=800) as sim:
            url = combined_url(sim.url, "aggTrade", SYMS)
            tracker = TradeIdTracker()
            held: dict[tuple[str, int], Trade] = {}

            def take(frames: list[str]) -> None:
                trades, dec = decode_all(frames)
                assert not dec.rejected
                for t in trades:
                    if not tracker.observe(t).duplicate:
                        held[(t.symbol, t.trade_id)] = t

            async with connect(url, close_timeout=1) as ws:
                take(await collect(ws, n=50))
                sim.drop_all_connections()
            await asyncio.sleep(0.3)  # trades happen while we are away
            last_before = tracker.last_ids()
            async with connect(url, close_timeout=1) as ws:
                take(await collect(ws))
            await _backfill(sim, tracker, held, last_before)
            want = {(s, a.agg_id): a for s in SYMS for a in sim.agg_history(s)}
            assert set(held) == set(want)
            for key, a in want.items():
                t = held[key]
                assert (t.price, t.qty, t.trade_time_ms) == (
                    float(a.price),
                    float(a.qty),
                    a.time_ms,
                )

    run(main)


def test_inject_dislocation_shifts_one_symbol() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS, rate=2000, seed=5) as sim:
            async with connect(combined_url(sim.url, "trade", ["ETHUSDT"]), close_timeout=1) as ws:
                before, _ = decode_all(await collect(ws, n=20))
                sim.inject_dislocation("ETHUSDT", 5.0)
                await collect(ws, n=20)  # frames already queued before the shift
                after, _ = decode_all(await collect(ws, n=20))
            ratio = after[-1].price / before[-1].price
            assert 1.03 < ratio < 1.07

    run(main)


def test_replay_headerless_unsorted_zero_qty_at_speed(tmp_path: Path) -> None:
    base = 1_700_000_000_000
    rows = [  # id,price,qty,quote_qty,time,is_buyer_maker — unsorted, one zero qty
        (103, "60010.0", "0.003", "180.03", base + 2000, "false"),
        (101, "60000.0", "0.001", "60.0", base, "true"),
        (104, "60020.0", "0.000", "0", base + 2500, "true"),
        (102, "60005.5", "0.002", "120.011", base + 1000, "False"),
        (105, "60030.0", "0.004", "240.12", base + 3000, "True"),
    ]
    path = tmp_path / "BTCUSDT-trades-2024-01-01.csv"
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    f = read_csv(path)
    assert (f.symbol, f.kind, f.had_header, f.skipped_zero) == ("BTCUSDT", "trades", False, 1)
    assert [r.id for r in f.rows] == [101, 102, 103, 105]
    agg_path = tmp_path / "ETHUSDT-aggTrades-2024-01-01.csv"
    agg_path.write_text(
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
        f"is_buyer_maker\n7,3000.5,0.4,70,71,{base + 500},true\n"
        f"6,3000.1,0,69,69,{base + 400},false\n"
    )
    g = read_csv(agg_path)
    assert (g.kind, g.had_header, g.skipped_zero, len(g.rows)) == ("aggTrades", True, 1, 1)

    async def main() -> None:
        source = ReplaySource([f, g], speed=20.0)
        async with ExchangeSimulator(["BTCUSDT", "ETHUSDT"], source=source) as sim:
            async with connect(
                combined_url(sim.url, "trade", ["BTCUSDT", "ETHUSDT"]), close_timeout=1
            ) as ws:
                t0 = time.monotonic()
                frames = await collect(ws, n=6, idle_s=2.0)
                elapsed = time.monotonic() - t0
            await sim.wait_done(2)
        trades, dec = decode_all(frames, ["BTCUSDT", "ETHUSDT"])
        assert not dec.rejected
        assert [(t.symbol, t.trade_id) for t in trades] == [
            ("BTCUSDT", 101),
            ("ETHUSDT", 70),
            ("ETHUSDT", 71),
            ("BTCUSDT", 102),
            ("BTCUSDT", 103),
            ("BTCUSDT", 105),
        ]
        assert [t.price for t in trades if t.symbol == "BTCUSDT"] == [
            60000.0,
            60005.5,
            60010.0,
            60030.0,
        ]
        assert trades[1].qty == pytest.approx(0.2)
        assert 0.1 < elapsed < 1.0  # 3 s of tape at 20x ≈ 0.15 s

    run(main)


def test_health_endpoint() -> None:
    async def main() -> None:
        import httpx

        async with ExchangeSimulator(SYMS) as sim, httpx.AsyncClient() as client:
            r = await client.get(f"{sim.rest_url}/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            r = await client.get(f"{sim.rest_url}/fapi/v1/aggTrades", params={"symbol": "NOPE"})
            assert r.status_code == 400 and r.json()["code"] == -1121
            r = await client.get(
                f"{sim.rest_url}/fapi/v1/aggTrades",
                params={"symbol": "BTCUSDT", "fromId": 1, "startTime": 1},
            )
            assert r.status_code == 400

    run(main)
