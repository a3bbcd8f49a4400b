"""GapFiller's queue merges overlapping gaps of one stream, never a closed gap into an open one."""

from __future__ import annotations

import asyncio

from quant_platform.feed.backfill import RestBackfiller
from quant_platform.feed.continuity import TradeIdTracker
from quant_platform.ingestion.gap_filler import GapFiller, GapRequest


def test_queued_gaps_merge_by_stream_and_openness() -> None:
    async def main() -> GapFiller:
        async with RestBackfiller("http://127.0.0.1:9") as bf:  # never called here
            f = GapFiller(bf, TradeIdTracker(), lambda t: None, {})
            f.put(GapRequest("BTCUSDT", "trade", 10, 20, after_ms=1, before_ms=2))
            f.put(GapRequest("BTCUSDT", "trade", 21, 30, after_ms=3, before_ms=4))  # touches
            f.put(GapRequest("BTCUSDT", "trade", 5, 12, after_ms=0, before_ms=9))  # overlaps
            f.put(GapRequest("BTCUSDT", "trade", 40, 50))  # apart
            f.put(GapRequest("ETHUSDT", "trade", 10, 20))  # other symbol
            f.put(GapRequest("BTCUSDT", "aggTrade", 10, 20))  # other kind
            f.put(GapRequest("BTCUSDT", "trade", 31, None, reason="reconnect"))  # open-ended
            f.put(GapRequest("BTCUSDT", "trade", 35, None, reason="reconnect"))  # folds in
            return f

    f = asyncio.run(main())
    got = [(r.symbol, r.kind, r.from_id, r.to_id, r.after_ms, r.before_ms) for r in f._queue]
    assert got == [
        ("BTCUSDT", "trade", 5, 30, 0, 4),
        ("BTCUSDT", "trade", 40, 50, None, None),
        ("ETHUSDT", "trade", 10, 20, None, None),
        ("BTCUSDT", "aggTrade", 10, 20, None, None),
        ("BTCUSDT", "trade", 31, None, None, None),  # a closed gap never joins an open one
    ]
    assert f.merged == 3 and f.queued == 5
