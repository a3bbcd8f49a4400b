"""Funding-rate history from the venue: REST `fundingRate` pages and the `@markPrice` stream.

REST ``GET /fapi/v1/fundingRate?symbol=&startTime=&endTime=&limit=1000`` returns
settled rates ascending (weight: one 500-per-5-min budget on the venue; we count
it against the same per-minute weight budget as the trade backfill). The
``@markPrice`` stream carries the rate in force (``r``) and the next funding time
(``T``); :class:`FundingRecorder` turns it into settled rows: when ``T`` moves
on, the last rate shown for the old ``T`` is the one that settled. Wire
formats stop here; the rest of the platform sees :class:`FundingRate`.
"""

from __future__ import annotations

import math

import msgspec

from quant_platform.domain.funding import FundingRate, MarkPriceUpdate
from quant_platform.feed.backfill import BackfillError, RestBackfiller

__all__ = [
    "FUNDING_PATH",
    "FundingBackfiller",
    "FundingRecorder",
    "decode_mark_price",
    "parse_funding_rows",
]

FUNDING_PATH = "/fapi/v1/fundingRate"
_PAGE = 1000
_WEIGHT = 1


class _RestFunding(msgspec.Struct, rename="camel"):
    symbol: str
    funding_time: int
    funding_rate: str


class _MarkPrice(msgspec.Struct):
    e: str
    E: int  # noqa: N815 - venue field names
    s: str
    p: str
    r: str
    T: int  # noqa: N815


class _Wrapped(msgspec.Struct):
    stream: str
    data: msgspec.Raw


_rows_decoder = msgspec.json.Decoder(list[_RestFunding])
_mark_decoder = msgspec.json.Decoder(_MarkPrice)
_wrapped_decoder = msgspec.json.Decoder(_Wrapped)


def _rate(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and abs(v) < 1.0 else None


def parse_funding_rows(body: bytes) -> list[FundingRate]:
    """A fundingRate response body as rows (rows with an unreadable rate are dropped).

    Raises:
        BackfillError: the body is not the venue's fundingRate JSON.
    """
    try:
        raw = _rows_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise BackfillError(f"fundingRate: unexpected response ({exc})") from exc
    out = []
    for r in raw:
        rate = _rate(r.funding_rate)
        if rate is not None:
            out.append(FundingRate(r.symbol.upper(), r.funding_time, rate))
    return out


class FundingBackfiller(RestBackfiller):
    """Pages through fundingRate history with the trade backfill's weight budget and retries."""

    async def fetch_funding(self, symbol: str, start_ms: int, end_ms: int) -> list[FundingRate]:
        """Settled rates with funding time in [start_ms, end_ms], ascending, de-duplicated.

        Raises:
            BackfillError: the venue refuses (after retries) or answers garbage.
        """
        out: list[FundingRate] = []
        cursor = start_ms
        for _ in range(self.max_pages):
            params = {"symbol": symbol, "startTime": cursor, "endTime": end_ms, "limit": _PAGE}
            page = parse_funding_rows(await self._get(FUNDING_PATH, params, _WEIGHT))
            page = [r for r in page if cursor <= r.funding_time_ms <= end_ms]
            out.extend(page)
            if len(page) < _PAGE:
                return out
            cursor = page[-1].funding_time_ms + 1
        raise BackfillError(
            f"fundingRate {symbol}: more than {self.max_pages} pages; narrow the span"
        )


def decode_mark_price(frame: str | bytes) -> MarkPriceUpdate | None:
    """A markPrice frame (bare or in the combined-stream wrapper); None if it is not one."""
    try:
        if isinstance(frame, str):
            frame = frame.encode()
        if frame.startswith(b'{"stream"'):
            frame = bytes(_wrapped_decoder.decode(frame).data)
        m = _mark_decoder.decode(frame)
    except msgspec.DecodeError:
        return None
    if m.e != "markPriceUpdate":
        return None
    rate = _rate(m.r)
    try:
        price = float(m.p)
    except ValueError:
        return None
    if rate is None or not math.isfinite(price):
        return None
    return MarkPriceUpdate(m.s.upper(), m.E, price, rate, m.T)


class FundingRecorder:
    """Settled rows from a stream of mark-price updates.

    Keeps the latest (next funding time, rate) per symbol; an update whose next
    funding time is later means the old one has passed, and the rate last shown
    for it is what settled. Nothing is emitted for a funding time whose end the
    stream did not see (e.g. a reconnect across it): the REST backfill fills that.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, float]] = {}

    def observe(self, update: MarkPriceUpdate) -> FundingRate | None:
        prev = self._pending.get(update.symbol)
        self._pending[update.symbol] = (update.next_funding_ms, update.rate)
        if prev is not None and update.next_funding_ms > prev[0] and update.event_ms >= prev[0]:
            return FundingRate(update.symbol, prev[0], prev[1])
        return None

    def forget(self, symbol: str | None = None) -> None:
        """Drop pending state (after a disconnect the next settle may be missed)."""
        if symbol is None:
            self._pending.clear()
        else:
            self._pending.pop(symbol, None)
