"""TradeIdTracker: new, duplicate, gap ranges, and backfill filling only the holes."""

from __future__ import annotations

from quant_platform.domain.trade import Trade
from quant_platform.feed.continuity import TradeIdTracker


def t(tid: int, symbol: str = "BTCUSDT", kind: str = "trade") -> Trade:
    return Trade(symbol, tid, 1.0, 1.0, 0, 0, False, 0, kind)


def test_new_duplicate_gap() -> None:
    tr = TradeIdTracker()
    assert tr.observe(t(10)).new
    assert tr.observe(t(11)).new
    s = tr.observe(t(11))
    assert s.duplicate and not s.new
    # below the first id seen: never seen, so a late frame, not a duplicate (ids between
    # it and the first are pre-subscription history, not a gap)
    assert tr.observe(t(5)).new
    assert tr.observe(t(5)).duplicate
    assert tr.open_gaps() == []
    g = tr.observe(t(15))
    assert g.new and g.gap == (12, 14)
    assert (tr.duplicates, tr.gaps, tr.missing) == (2, 1, 3)
    assert [(x.symbol, x.from_id, x.to_id, x.size) for x in tr.open_gaps()] == [
        ("BTCUSDT", 12, 14, 3)
    ]
    assert tr.last_ids() == {("BTCUSDT", "trade"): 15}


def test_streams_are_independent_per_symbol_and_kind() -> None:
    tr = TradeIdTracker()
    tr.observe(t(100))
    assert tr.observe(t(5, kind="aggTrade")).new
    assert tr.observe(t(5, symbol="ETHUSDT")).new
    assert tr.observe(t(101)).gap is None
    assert tr.observe(t(7, kind="aggTrade")).gap == (6, 6)
    assert tr.last_id("ETHUSDT", "trade") == 5


def test_fill_accepts_only_missing_ids() -> None:
    tr = TradeIdTracker()
    tr.observe(t(1))
    tr.observe(t(10))  # gap 2..9
    assert tr.fill(t(5))
    assert not tr.fill(t(5))  # already filled
    assert not tr.fill(t(1)) and not tr.fill(t(10))
    assert [(g.from_id, g.to_id) for g in tr.open_gaps()] == [(2, 4), (6, 9)]
    for i in (2, 3, 4, 6, 7, 8, 9):
        assert tr.fill(t(i))
    assert tr.open_gaps() == [] and tr.filled == 8
    # Ids beyond the last extend the stream (reconnect backfill), later live ones are duplicates.
    assert tr.fill(t(11)) and tr.fill(t(12))
    assert tr.observe(t(12)).duplicate
    assert tr.observe(t(13)).new


def test_late_out_of_order_trade_fills_its_hole() -> None:
    tr = TradeIdTracker()
    tr.observe(t(1))
    assert tr.observe(t(3)).gap == (2, 2)
    assert tr.observe(t(2)).new  # arrived late: accepted once
    assert tr.observe(t(2)).duplicate
    assert tr.open_gaps() == []


def test_open_gaps_are_bounded() -> None:
    tr = TradeIdTracker(max_open_gaps=3)
    for i in range(0, 20, 2):
        tr.observe(t(i))
    assert len(tr.open_gaps()) == 3 and tr.forgotten_gaps == 6


def test_seed_from_store_take_range_abandon_and_merge() -> None:
    tr = TradeIdTracker()
    tr.seed("BTCUSDT", "trade", 100, 5_000)  # newest stored id at start
    assert tr.last_id("BTCUSDT", "trade") == 100
    assert tr.last_time_ms("BTCUSDT", "trade") == 5_000
    s = tr.observe(Trade("BTCUSDT", 140, 1.0, 1.0, 9_000, 9_000, False, 0))
    assert s.gap == (101, 139) and s.after_ms == 5_000  # the time window's start
    # An aggTrade covering trade ids 105..110 fills them at once, all or nothing.
    assert tr.take_range("BTCUSDT", "trade", 105, 110)
    assert not tr.take_range("BTCUSDT", "trade", 108, 112)  # overlaps ids now held
    assert not tr.take_range("BTCUSDT", "trade", 139, 141)  # straddles the gap's edge
    assert tr.open_count("BTCUSDT", "trade", 101, 139) == 39 - 6
    assert tr.abandon("BTCUSDT", "trade", 101, 120) == 4 + 10  # 101..104 and 111..120
    assert [(g.from_id, g.to_id) for g in tr.open_gaps()] == [(121, 139)]
    assert tr.abandon("BTCUSDT", "trade", 101, 120) == 0  # counted once only
    # Holes found in the store merge with what is already open.
    tr.add_gap("BTCUSDT", "trade", 130, 135)
    tr.add_gap("BTCUSDT", "trade", 50, 60)
    assert [(g.from_id, g.to_id) for g in tr.open_gaps()] == [(50, 60), (121, 139)]
    assert tr.fill(t(55)) and not tr.fill(t(55))
    # Seeding never moves a stream backwards.
    tr.seed("BTCUSDT", "trade", 90, 1)
    assert tr.last_id("BTCUSDT", "trade") == 140
