"""Binance public-data fundingRate files as a `qp import` kind.

``data.binance.vision/data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip``
holds ``calc_time,funding_interval_hours,last_funding_rate``: the funding time
(ms), the interval in hours and the settled rate. Registered with
:mod:`.public_files` under the name ``fundingRate`` (table ``funding_rates``);
the store lives in :mod:`quant_platform.storage.funding_store`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from quant_platform.feed.public_files import FileKind, RowError, _time_ms, register_kind


class FundingRecord(NamedTuple):
    time_ms: int
    rate: str  # the file's digits, checked
    interval_hours: int


def parse_funding_row(f: list[str]) -> FundingRecord:
    """One row; raises RowError("malformed"/"bad_time"/"bad_rate") with the field.

    Raises:
        RowError: malformed row, bad time or bad rate (the reason names the field).
    """
    t = _time_ms(f[0].strip())
    try:
        hours = int(f[1])
    except ValueError:
        raise RowError("malformed", f"funding_interval_hours {f[1]!r} is not an integer") from None
    text = f[2].strip()
    try:
        rate = float(text)
    except ValueError:
        raise RowError("malformed", f"last_funding_rate {text!r} is not a number") from None
    if not math.isfinite(rate) or abs(rate) >= 1.0:
        raise RowError("bad_rate", f"last_funding_rate {text} is not a plausible rate")
    return FundingRecord(t, text, hours)


FUNDING_RATE = register_kind(
    FileKind(
        "fundingRate",
        ("calc_time", "funding_interval_hours", "last_funding_rate"),
        parse_funding_row,
        "funding_rates",
    )
)
