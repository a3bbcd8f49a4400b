"""TradeDecoder: wire formats, validation reasons, acks, and garbage that must never raise."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.feed.decoder import TradeDecoder

NOW_NS = time.time_ns()
NOW_MS = NOW_NS // 1_000_000
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def agg(**over: object) -> dict[str, object]:
    d: dict[str, object] = {
        "e": "aggTrade",
        "E": NOW_MS,
        "a": 42,
        "s": "BTCUSDT",
        "p": "60000.1",
        "q": "0.015",
        "f": 100,
        "l": 102,
        "T": NOW_MS - 1,
        "m": True,
    }
    d.update(over)
    return d


def trade(**over: object) -> dict[str, object]:
    d: dict[str, object] = {
        "e": "trade",
        "E": NOW_MS,
        "T": NOW_MS - 1,
        "s": "ETHUSDT",
        "t": 7,
        "p": "3000.50",
        "q": "1.5",
        "X": "MARKET",
        "m": False,
    }
    d.update(over)
    return d


def wrap(data: dict[str, object]) -> bytes:
    return json.dumps(
        {"stream": f"{str(data.get('s', 'x')).lower()}@{data['e']}", "data": data}
    ).encode()


def test_combined_agg_trade() -> None:
    d = TradeDecoder(SYMBOLS)
    r = d.decode(wrap(agg()), NOW_NS)
    assert r.outcome == "trade" and r.reject_reason is None
    t = r.trade
    assert t is not None
    assert (t.symbol, t.trade_id, t.price, t.qty, t.kind) == (
        "BTCUSDT",
        42,
        60000.1,
        0.015,
        "aggTrade",
    )
    assert (t.trade_time_ms, t.event_time_ms, t.buyer_is_maker, t.receive_time_ns) == (
        NOW_MS - 1,
        NOW_MS,
        True,
        NOW_NS,
    )
    assert t.fill_type == "MARKET"


def test_combined_trade_keeps_fill_type_and_str_input() -> None:
    d = TradeDecoder(SYMBOLS)
    r = d.decode(wrap(trade(X="LIQUIDATION")).decode(), NOW_NS)
    assert r.trade is not None
    assert (r.trade.kind, r.trade.trade_id, r.trade.fill_type) == ("trade", 7, "LIQUIDATION")
    r2 = d.decode(wrap({k: v for k, v in trade().items() if k != "X"}), NOW_NS)
    assert r2.trade is not None and r2.trade.fill_type == "UNKNOWN"


def test_bare_payload_and_key_order() -> None:
    d = TradeDecoder(SYMBOLS)
    assert d.decode(json.dumps(agg()), NOW_NS).trade is not None
    reordered = json.dumps({"data": trade(), "stream": "ethusdt@trade"})
    assert d.decode(reordered, NOW_NS).trade is not None
    assert sum(d.rejected.values()) == 0


def test_acks_and_other_events_are_not_rejections() -> None:
    d = TradeDecoder(SYMBOLS)
    for frame in (
        '{"result":null,"id":1}',
        '{"result":["btcusdt@trade"],"id":3}',
        json.dumps(
            {
                "stream": "btcusdt@markPrice",
                "data": {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT"},
            }
        ),
        '{"e":"kline","E":1}',
    ):
        r = d.decode(frame, NOW_NS)
        assert r.outcome == "ack" and r.trade is None and r.reject_reason is None
    assert not d.rejected
    assert d.acks["result"] == 2 and d.acks["markPriceUpdate"] == 1


def test_rejection_reasons_are_counted() -> None:
    d = TradeDecoder(SYMBOLS, max_frame_bytes=4096)
    cases = {
        b"x" * 5000: "too_large",
        b'{"stream":"a","data":{"e":"trade","s":"\xff\xfe"}}': "not_utf8",
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,': "malformed_json",
        b"[1,2,3]": "not_object",
        wrap(agg(p=60000.1)): "schema",  # number where the venue sends a string
        wrap(agg(a="42")): "schema",  # id must be an integer
        wrap(agg(a=1.5)): "schema",
        wrap(agg(m="true")): "schema",
        wrap(agg(p="abc")): "schema",
        wrap({k: v for k, v in agg().items() if k != "T"}): "schema",
        wrap(agg(p="NaN")): "bad_price",
        wrap(agg(p="inf")): "bad_price",
        wrap(agg(p="-1")): "bad_price",
        wrap(agg(q="0")): "bad_qty",
        wrap(agg(q="0.000")): "bad_qty",
        wrap(agg(a=-1)): "bad_id",
        wrap(agg(f=5, l=4)): "bad_id",
        wrap(agg(s="DOGEUSDT")): "unknown_symbol",
        wrap(agg(T=NOW_MS - 2 * 86_400_000)): "stale_time",
        wrap(agg(T=NOW_MS + 10 * 60_000)): "future_time",
        b'{"error":{"code":2,"msg":"Invalid request"},"id":5}': "venue_error",
        b'{"foo":1}': "schema",
        b"": "malformed_json",
    }
    for frame, reason in cases.items():
        r = d.decode(frame, NOW_NS)
        assert r.outcome == "rejected" and r.trade is None, frame
        assert r.reject_reason == reason, (frame, r.reject_reason)
    assert sum(d.rejected.values()) == len(cases)
    assert d.rejected["schema"] == 7


def test_time_window_is_configurable() -> None:
    d = TradeDecoder(SYMBOLS, max_past_ms=1000, max_future_ms=10)
    assert d.decode(wrap(agg(T=NOW_MS - 5000)), NOW_NS).reject_reason == "stale_time"
    assert d.decode(wrap(agg(T=NOW_MS + 50)), NOW_NS).reject_reason == "future_time"
    assert d.decode(wrap(agg(T=NOW_MS)), NOW_NS).trade is not None
    # Without a receive time the decoder reads the clock itself.
    assert d.decode(wrap(agg(T=time.time_ns() // 1_000_000))).trade is not None


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        _json_values.map(json.dumps),
        st.builds(
            lambda data, cut: wrap(data)[:cut],
            st.sampled_from([agg(), trade()]),
            st.integers(0, 200),
        ),
        st.dictionaries(st.sampled_from(list(agg())), _json_values).map(
            lambda d: wrap({**agg(), **d})
        ),
        st.binary(min_size=70_000, max_size=70_100),
    )
)
def test_garbage_never_raises(raw: str | bytes) -> None:
    d = TradeDecoder(SYMBOLS)
    r = d.decode(raw, NOW_NS)
    assert r.outcome in ("trade", "ack", "rejected")
    assert (r.trade is not None) == (r.outcome == "trade")
    assert (r.reject_reason is not None) == (r.outcome == "rejected")
    assert sum(d.rejected.values()) == (r.outcome == "rejected")
    if r.trade is not None:
        assert r.trade.price > 0 and r.trade.qty > 0


def test_every_number_is_range_checked_before_it_can_reach_the_database() -> None:
    d = TradeDecoder(SYMBOLS)
    cases = {
        wrap(agg(E=2**63)): "bad_event_time",  # reached COPY and wedged the writer before
        wrap(agg(E=2**64 + 5)): "bad_event_time",
        wrap(agg(E=-1)): "bad_event_time",
        wrap(agg(a=2**63)): "bad_id",
        wrap(agg(f=-1)): "bad_id",
        wrap(agg(l=2**63)): "bad_id",
        wrap(agg(f=5, l=4)): "bad_id",
        wrap(trade(t=-1)): "bad_id",
        wrap(trade(T=2**63)): "future_time",
        wrap(trade(T=-(2**63))): "stale_time",
    }
    for frame, reason in cases.items():
        r = d.decode(frame, NOW_NS)
        assert r.reject_reason == reason, (frame, r)


def test_time_is_judged_by_the_venue_clock() -> None:
    """A host clock 6 min behind the venue: frames look 6 min in the future to it."""
    d = TradeDecoder(SYMBOLS)
    venue_ms = NOW_MS + 6 * 60_000
    frame = wrap(agg(T=venue_ms, E=venue_ms + 1))
    assert d.decode(frame, NOW_NS).reject_reason == "future_time"
    d.clock_offset_ms = 6 * 60_000  # what VenueClock reads from /fapi/v1/time
    assert d.decode(frame, NOW_NS).trade is not None
    d.clock_offset_ms = -6 * 60_000
    behind = NOW_MS - 6 * 60_000
    assert d.decode(wrap(agg(T=behind, E=behind)), NOW_NS).trade is not None
