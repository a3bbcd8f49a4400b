"""The backfill gap queue merges overlapping and touching gaps of the same stream."""

from __future__ import annotations

import asyncio

from quant_platform.feed.gap_queue import GapQueue


def _drain(q: GapQueue) -> list[tuple[str, str, int, int | None]]:
    async def run() -> list[tuple[str, str, int, int | None]]:
        return [await q.get() for _ in range(q.qsize())]

    return asyncio.run(run())


def test_overlapping_touching_and_open_ended_gaps_merge_per_stream() -> None:
    q = GapQueue()
    q.put_nowait(("BTCUSDT", "trade", 10, 20))
    q.put_nowait(("BTCUSDT", "trade", 15, 30))  # overlaps
    q.put_nowait(("BTCUSDT", "trade", 31, 35))  # touches
    q.put_nowait(("BTCUSDT", "trade", 50, 60))  # apart: its own gap
    q.put_nowait(("ETHUSDT", "trade", 12, 18))  # another symbol
    q.put_nowait(("BTCUSDT", "aggTrade", 12, 18))  # another kind
    assert q.qsize() == 4 and q.merged == 2
    q.put_nowait(("BTCUSDT", "trade", 36, None))  # reconnect: everything after 35
    assert q.qsize() == 3  # bridged [10, 35] and [50, 60] into one open-ended gap
    assert _drain(q) == [
        ("BTCUSDT", "trade", 10, None),
        ("ETHUSDT", "trade", 12, 18),
        ("BTCUSDT", "aggTrade", 12, 18),
    ]


def test_repeated_reconnects_queue_one_walk() -> None:
    q = GapQueue()
    for last in (100, 100, 100, 140):
        q.put_nowait(("SOLUSDT", "aggTrade", last + 1, None))
    assert _drain(q) == [("SOLUSDT", "aggTrade", 101, None)]


def test_get_waits_for_a_gap() -> None:
    async def run() -> tuple[str, str, int, int | None]:
        q = GapQueue()
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        assert not getter.done()
        q.put_nowait(("BTCUSDT", "trade", 1, 2))
        return await asyncio.wait_for(getter, 2)

    assert asyncio.run(run()) == ("BTCUSDT", "trade", 1, 2)
