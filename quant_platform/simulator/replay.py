"""Replay of Binance public-data futures files (trades or aggTrades) as simulator orders.

Files are read by `quant_platform.feed.public_files`, the same parser `qp import`
uses: with or without header, .csv or .zip, any row order (sorted here by time,
then id); zero quantities and malformed rows are skipped and counted for the
same reasons the importer rejects them. Ids are kept as in the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from quant_platform.feed.public_files import FileFormatError, read_all
from quant_platform.simulator.arrivals import SimAgg, SimFill, SimOrder

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Row:
    """One parsed CSV row; for trade files `first_id == last_id == id`."""

    id: int
    price: str
    qty: str
    time_ms: int
    buyer_is_maker: bool
    first_id: int
    last_id: int


@dataclass
class ReplayFile:
    """A parsed file: `kind` is "trades" or "aggTrades"; counts of what was skipped."""

    path: Path
    symbol: str
    kind: str
    rows: list[Row] = field(default_factory=list)
    had_header: bool = False
    skipped_zero: int = 0
    skipped_bad: int = 0


def read_csv(path: str | Path, symbol: str | None = None, kind: str | None = None) -> ReplayFile:
    """Parse a trades or aggTrades file (.csv or .zip) for replay.

    Raises:
        ValueError: symbol or kind unknown, or not a trades/aggTrades file.
    """
    p = Path(path)
    ident, records, report = read_all(p, symbol, kind)
    if ident.kind.table != "trades":
        raise FileFormatError(f"{p.name}: a {ident.kind.name} file can't be replayed as trades")
    out = ReplayFile(p, ident.symbol, ident.kind.name, had_header=report.had_header)
    out.skipped_zero = report.rejected.get("zero_qty", 0)
    out.skipped_bad = sum(report.rejected.values()) - out.skipped_zero
    out.rows = [Row(r[1], r[2], r[3], r[0], r[4], r[5], r[6]) for r in records]
    out.rows.sort(key=lambda row: (row.time_ms, row.id))
    if out.skipped_zero or out.skipped_bad:
        log.info(
            "%s: skipped %d zero-qty and %d bad rows", p.name, out.skipped_zero, out.skipped_bad
        )
    return out


class ReplaySource:
    """Orders from one or more files, merged by time, `speed`× faster than recorded.

    From a trades file each row is one fill and one aggregate (agg ids
    numbered consecutively per symbol); from an aggTrades file each row is
    one aggregate whose quantity is split evenly over its `first..last` ids.
    """

    def __init__(self, files: list[ReplayFile], speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.files = files
        self.speed = speed
        merged = [(row.time_ms, row.id, f.symbol, f.kind, row) for f in files for row in f.rows]
        merged.sort(key=lambda x: (x[0], x[1]))
        self._merged = merged
        self.t0 = merged[0][0] if merged else 0
        self.skipped_zero = sum(f.skipped_zero for f in files)

    def __len__(self) -> int:
        return len(self._merged)

    def __iter__(self) -> Iterator[SimOrder]:
        next_agg: dict[str, int] = {}
        for t_ms, _, symbol, kind, row in self._merged:
            offset = (t_ms - self.t0) / 1000.0 / self.speed
            if kind == "trades":
                agg_id = next_agg.setdefault(symbol, row.id)
                next_agg[symbol] = agg_id + 1
                fills = [SimFill(symbol, row.id, row.price, row.qty, row.buyer_is_maker, agg_id)]
                agg = SimAgg(symbol, agg_id, row.price, row.qty, row.id, row.id, row.buyer_is_maker)
            else:
                n = max(1, row.last_id - row.first_id + 1)
                part = format(Decimal(row.qty) / n, "f")
                fills = [
                    SimFill(symbol, row.first_id + i, row.price, part, row.buyer_is_maker, row.id)
                    for i in range(n)
                ]
                agg = SimAgg(
                    symbol,
                    row.id,
                    row.price,
                    row.qty,
                    row.first_id,
                    row.last_id,
                    row.buyer_is_maker,
                )
            yield SimOrder(offset, fills, agg)
