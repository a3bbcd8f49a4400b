"""RestBackfiller against the real simulator's REST endpoints (same port as its WebSocket)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from quant_platform.feed.backfill import RestBackfiller, WeightBudget
from quant_platform.simulator.server import ExchangeSimulator

T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(factory(), timeout)

    return asyncio.run(main())


async def _sim_with(total: int, rate: float = 4000.0) -> ExchangeSimulator:
    """A simulator that has already generated `total` trades (no client needed)."""
    sim = ExchangeSimulator(
        ["BTCUSDT", "ETHUSDT"], rate=rate, total_trades=total, seed=3, start_when_subscribed=False
    )
    await sim.start()
    await sim.wait_done(15)
    return sim


def test_agg_trades_gap_recovered_exactly() -> None:
    async def main() -> None:
        sim = await _sim_with(3000)
        try:
            aggs = sim.agg_history("BTCUSDT")
            assert len(aggs) > 1000  # the gap spans more than one page
            lo, hi = aggs[3].agg_id, aggs[-2].agg_id
            async with RestBackfiller(sim.rest_url) as bf:
                got, missing = await bf.fetch("BTCUSDT", "aggTrade", lo, hi)
                assert missing == 0
                assert [t.trade_id for t in got] == list(range(lo, hi + 1))
                want = {a.agg_id: a for a in aggs}
                for tr in got:
                    a = want[tr.trade_id]
                    assert (tr.price, tr.qty, tr.trade_time_ms, tr.buyer_is_maker) == (
                        float(a.price),
                        float(a.qty),
                        a.time_ms,
                        a.buyer_is_maker,
                    )
                    assert tr.kind == "aggTrade" and tr.symbol == "BTCUSDT"
                assert bf.requests >= 2
                # Open-ended (after a reconnect): everything after the last id held.
                tail, missing = await bf.fetch("BTCUSDT", "aggTrade", hi - 1)
                assert [t.trade_id for t in tail] == [hi - 1, hi, aggs[-1].agg_id] and missing == 0
                assert bf.budget.used == 20 * bf.requests  # adopted from X-MBX-USED-WEIGHT-1M
        finally:
            await sim.stop()

    run(main)


def test_recent_trades_recover_only_the_last_thousand() -> None:
    async def main() -> None:
        sim = await _sim_with(3000)
        try:
            fills = sim.history("BTCUSDT")
            assert len(fills) > 1200
            async with RestBackfiller(sim.rest_url) as bf:
                recent_lo, last = fills[-50].trade_id, fills[-1].trade_id
                got, missing = await bf.fetch("BTCUSDT", "trade", recent_lo, last - 1)
                assert missing == 0
                assert [t.trade_id for t in got] == list(range(recent_lo, last))
                assert got[0].price == float(fills[-50].price)
                assert got[0].trade_time_ms == fills[-50].time_ms
                old_lo = fills[0].trade_id
                got, missing = await bf.fetch("BTCUSDT", "trade", old_lo, last)
                assert len(got) == 1000 and missing == (last - old_lo + 1) - 1000
                got, missing = await bf.fetch("BTCUSDT", "trade", old_lo)
                assert len(got) == 1000 and missing == got[0].trade_id - old_lo
        finally:
            await sim.stop()

    run(main)


def test_429_with_retry_after_is_waited_out() -> None:
    async def main() -> None:
        sim = await _sim_with(200)
        try:
            aggs = sim.agg_history("BTCUSDT")
            sim.fail_next_rest(1, status=429, retry_after_s=1.0)
            async with RestBackfiller(sim.rest_url) as bf:
                t0 = time.monotonic()
                got, missing = await bf.fetch(
                    "BTCUSDT", "aggTrade", aggs[0].agg_id, aggs[-1].agg_id
                )
                waited = time.monotonic() - t0
            assert bf.throttled == 1 and waited >= 0.95
            assert len(got) == len(aggs) and missing == 0
            # 418 with a Retry-After beyond our patience: BackfillError, nothing invented.
            sim.fail_next_rest(1, status=418, retry_after_s=3600)
            async with RestBackfiller(sim.rest_url, max_retry_after_s=60) as bf:
                try:
                    await bf.fetch("BTCUSDT", "aggTrade", aggs[0].agg_id)
                except Exception as exc:  # noqa: BLE001
                    assert "418" in str(exc)
                else:
                    raise AssertionError("expected BackfillError")
        finally:
            await sim.stop()

    run(main)


def test_weight_budget_waits_for_next_minute() -> None:
    now = [120.0]
    b = WeightBudget(per_minute=100, clock=lambda: now[0])
    for _ in range(5):
        assert b.wait_s(20) == 0
        b.spend(20)
    assert 59 < b.wait_s(20) <= 60.1
    b.observe("40")  # the venue's count wins
    assert b.wait_s(20) == 0
    now[0] = 181.0
    assert b.wait_s(100) == 0 and b.used == 0


def test_budget_wait_is_slept_before_the_request() -> None:
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    async def main() -> None:
        sim = await _sim_with(50)
        try:
            budget = WeightBudget(per_minute=2400)
            budget.used, budget.window = 2390, int(time.time() // 60)
            async with RestBackfiller(sim.rest_url, budget=budget, sleep=fake_sleep) as bf:
                await bf.fetch("BTCUSDT", "aggTrade", sim.agg_history("BTCUSDT")[0].agg_id)
            assert slept and 0 < slept[0] <= 60.1
        finally:
            await sim.stop()

    run(main)
