"""Exchange frame → validated `Trade`, or a counted rejection; never raises.

The hot path is one typed msgspec decode of the combined wrapper
`{"stream": .., "data": {..}}` into a tagged union of the two trade events
(tag field `e`), then a handful of comparisons. Anything that does not fit
(acks, other events, bare payloads, garbage) falls to a slow path that
classifies it, so a malformed frame costs more but can never crash the feed.

Wire fields (Binance USD-M): aggTrade `e,E,s,a,p,q,f,l,T,m`; trade
`e,E,T,s,t,p,q,X,m`. Price and quantity arrive as decimal strings.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterable

import msgspec

from quant_platform.domain.trade import FillType, Trade

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAME_BYTES = 64 * 1024
DEFAULT_MAX_PAST_MS = 24 * 3600 * 1000
DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000
MAX_ID = 2**63 - 1  # ids land in a BIGINT column
MAX_EVENT_LAG_MS = 24 * 3600 * 1000  # event time E within a day of the trade time T
_INF = math.inf
_FILL_TYPES: dict[str, FillType] = {f.value: f for f in FillType}


class AggTradeEvent(msgspec.Struct, tag_field="e", tag="aggTrade", gc=False):
    """`<symbol>@aggTrade` payload (futures aggregate only MARKET fills)."""

    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - the venue's field name
    T: int
    m: bool


class TradeEvent(msgspec.Struct, tag_field="e", tag="trade", gc=False):
    """`<symbol>@trade` payload; `X` is the fill type (MARKET, LIQUIDATION, ...)."""

    E: int
    T: int
    s: str
    t: int
    p: str
    q: str
    m: bool
    X: str = FillType.UNKNOWN.value


TradeUnion = AggTradeEvent | TradeEvent


class Combined(msgspec.Struct, gc=False):
    """Combined-stream wrapper."""

    stream: str
    data: TradeUnion


class Decoded(msgspec.Struct, frozen=True, gc=False):
    """What one frame was: `trade` set, or `reject_reason` set, or neither (an ack/other event).

    `outcome` is "trade", "ack" (subscription replies, non-trade events) or "rejected".
    """

    outcome: str
    trade: Trade | None = None
    reject_reason: str | None = None
    detail: str | None = None


ACK = Decoded("ack")
_REJECTS: dict[str, Decoded] = {}


def _reject(reason: str) -> Decoded:
    r = _REJECTS.get(reason)
    if r is None:
        r = _REJECTS[reason] = Decoded("rejected", reject_reason=reason)
    return r


def _identity(ev: TradeUnion) -> tuple[int, str, FillType] | None:
    """(trade id, stream kind, fill type) of a decoded event; None when the ids are invalid."""
    if type(ev) is AggTradeEvent:
        if not (0 <= ev.a <= MAX_ID and 0 <= ev.f <= ev.l <= MAX_ID):
            return None
        return ev.a, "aggTrade", FillType.MARKET
    if not 0 <= ev.t <= MAX_ID:
        return None
    return ev.t, "trade", _FILL_TYPES.get(ev.X, FillType.UNKNOWN)


def _text_problem(raw: object) -> str | None:
    """The reject reason when a frame is not valid UTF-8 text (or not text at all)."""
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return "not_utf8"
        return None
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            return "not_utf8"
        return None
    return "schema"


class TradeDecoder:
    """Decode and validate trade frames for a fixed symbol set.

    `rejected` counts rejections per reason; `acks` counts control frames and
    non-trade events per type. Reasons: too_large, not_utf8, malformed_json,
    not_object, schema, bad_price, bad_qty, bad_id, unknown_symbol,
    stale_time, future_time, bad_event_time, venue_error.

    Every number is range-checked before it can reach a BIGINT column: ids in
    0..2^63-1, trade time `T` within the past/future window, event time `E`
    within a day of `T`.
    "Now" is the venue's clock: `clock_offset_ms` (venue minus host, kept by
    `VenueClock` from `/fapi/v1/time`) is added to the local receive time, so a
    host clock minutes off does not turn every frame into a stale/future reject.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_past_ms: int = DEFAULT_MAX_PAST_MS,
        max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
    ) -> None:
        self.symbols = frozenset(s.upper() for s in symbols)
        if not self.symbols:
            raise ValueError("TradeDecoder needs at least one symbol")
        self.max_frame_bytes = max_frame_bytes
        self.max_past_ms = max_past_ms
        self.max_future_ms = max_future_ms
        self.clock_offset_ms = 0  # venue clock minus host clock
        self.rejected: Counter[str] = Counter()
        self.acks: Counter[str] = Counter()
        self.accepted = 0
        self._combined = msgspec.json.Decoder(Combined)
        self._bare = msgspec.json.Decoder(TradeUnion)
        self._any = msgspec.json.Decoder()

    # --- hot path ---------------------------------------------------------------------
    def decode(self, raw: str | bytes, receive_ns: int | None = None) -> Decoded:
        """Classify one frame; `receive_ns` is the local wall clock (time.time_ns()) at receipt."""
        if len(raw) > self.max_frame_bytes:
            self.rejected["too_large"] += 1
            return _reject("too_large")
        try:
            ev = self._combined.decode(raw).data
        except Exception:  # noqa: BLE001 - anything odd goes to the classifier
            return self._slow(raw, receive_ns)
        return self._validate(ev, receive_ns)

    def _validate(self, ev: TradeUnion, receive_ns: int | None) -> Decoded:
        if receive_ns is None:
            receive_ns = time.time_ns()
        try:
            price = float(ev.p)
            qty = float(ev.q)
        except ValueError:
            self.rejected["schema"] += 1
            return _reject("schema")
        if not 0.0 < price < _INF:
            self.rejected["bad_price"] += 1
            return _reject("bad_price")
        if not 0.0 < qty < _INF:
            self.rejected["bad_qty"] += 1
            return _reject("bad_qty")
        symbol = ev.s
        if symbol not in self.symbols:
            self.rejected["unknown_symbol"] += 1
            return _reject("unknown_symbol")
        t_ms = ev.T
        now_ms = receive_ns // 1_000_000 + self.clock_offset_ms
        lo_ms = now_ms - self.max_past_ms
        hi_ms = now_ms + self.max_future_ms
        if t_ms < lo_ms:
            self.rejected["stale_time"] += 1
            return _reject("stale_time")
        if t_ms > hi_ms:
            self.rejected["future_time"] += 1
            return _reject("future_time")
        if not -MAX_EVENT_LAG_MS <= ev.E - t_ms <= MAX_EVENT_LAG_MS:  # 2**63 would wedge COPY
            self.rejected["bad_event_time"] += 1
            return _reject("bad_event_time")
        ident = _identity(ev)
        if ident is None:
            self.rejected["bad_id"] += 1
            return _reject("bad_id")
        tid, kind, fill = ident
        self.accepted += 1
        return Decoded(
            "trade",
            Trade(symbol, tid, price, qty, t_ms, ev.E, ev.m, receive_ns, kind, fill),
        )

    # --- slow path: everything that is not a well-formed combined trade frame ------------
    def _slow(self, raw: str | bytes, receive_ns: int | None) -> Decoded:
        try:
            return self._classify(raw, receive_ns)
        except Exception as exc:  # noqa: BLE001 - the decoder never raises
            log.debug("unclassifiable frame: %r", exc)
            self.rejected["schema"] += 1
            return _reject("schema")

    def _classify(self, raw: str | bytes, receive_ns: int | None) -> Decoded:
        text_problem = _text_problem(raw)
        if text_problem is not None:
            self.rejected[text_problem] += 1
            return _reject(text_problem)
        try:
            obj = self._any.decode(raw)
        except msgspec.DecodeError:
            self.rejected["malformed_json"] += 1
            return _reject("malformed_json")
        if not isinstance(obj, dict):
            self.rejected["not_object"] += 1
            return _reject("not_object")
        payload = obj["data"] if "data" in obj and "stream" in obj else obj
        if not isinstance(payload, dict):
            self.rejected["schema"] += 1
            return _reject("schema")
        if "result" in payload and "id" in payload:
            self.acks["result"] += 1
            return ACK
        if "error" in payload:
            self.rejected["venue_error"] += 1
            log.warning("venue error frame: %s", str(payload.get("error"))[:200])
            return Decoded(
                "rejected", reject_reason="venue_error", detail=str(payload["error"])[:200]
            )
        event = payload.get("e")
        if event in ("trade", "aggTrade"):
            try:
                ev = msgspec.convert(payload, TradeUnion, strict=True)
            except (msgspec.ValidationError, TypeError):
                self.rejected["schema"] += 1
                return _reject("schema")
            return self._validate(ev, receive_ns)
        if isinstance(event, str) and event:
            self.acks[event[:32]] += 1
            return ACK
        self.rejected["schema"] += 1
        return _reject("schema")
