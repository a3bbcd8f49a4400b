"""The one trade type every layer shares, from the decoder to the database writer."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class FillType(StrEnum):
    """Binance's `X` field: only MARKET fills reflect the order book."""

    MARKET = "MARKET"
    LIQUIDATION = "LIQUIDATION"
    INSURANCE_FUND = "INSURANCE_FUND"
    ADL = "ADL"
    UNKNOWN = "UNKNOWN"


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One exchange trade, validated and normalised.

    Times are integers (exchange ms, local ns) so the hot path never builds
    datetime objects; `buyer_is_maker=True` means the aggressor was the seller.
    `kind` is the stream the trade came from ("trade" ids and "aggTrade" ids are
    different sequences, so continuity is tracked per kind).
    """

    symbol: str
    trade_id: int
    price: float
    qty: float
    trade_time_ms: int
    event_time_ms: int
    buyer_is_maker: bool
    receive_time_ns: int
    kind: str = "trade"
    fill_type: FillType = FillType.MARKET

    @property
    def notional(self) -> float:
        return self.price * self.qty
