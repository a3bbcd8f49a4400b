"""Funding-rate types: one settled funding event, one live mark-price update."""

from __future__ import annotations

import msgspec


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    """The rate settled for `symbol` at `funding_time_ms` (0.0001 = 0.01 %).

    Positive: longs pay shorts rate x position notional; negative: shorts pay.
    The REST backfill, the @markPrice stream and public-data files all reduce
    to this, so the table holds the same row whichever source wrote it.
    """

    symbol: str
    funding_time_ms: int
    rate: float


class MarkPriceUpdate(msgspec.Struct, frozen=True, gc=False):
    """A `<symbol>@markPrice` event: the rate in force for the next funding time."""

    symbol: str
    event_ms: int
    mark_price: float
    rate: float
    next_funding_ms: int
