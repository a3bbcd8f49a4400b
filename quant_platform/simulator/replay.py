"""Replay of Binance public-data futures CSVs (trades or aggTrades) as simulator orders.

Files: trades `id,price,qty,quote_qty,time,is_buyer_maker`; aggTrades
`agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker`.
Older archives have no header row, rows can be unsorted (sorted here by
time, then id) and quantities can be zero (skipped and counted: the venue's
REST never returns them either). Ids are kept as in the file.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from quant_platform.simulator.arrivals import SimAgg, SimFill, SimOrder

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^([A-Z0-9]{2,20})-(trades|aggTrades)-", re.IGNORECASE)
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}


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


def symbol_from_name(path: Path) -> str | None:
    """`BTCUSDT-trades-2024-01-01.csv` → `BTCUSDT`."""
    m = _FILE_RE.match(path.name)
    return m.group(1).upper() if m else None


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _decimal_str(text: str) -> tuple[str, Decimal]:
    t = text.strip()
    d = Decimal(t)
    if not d.is_finite() or d < 0:
        raise ValueError(f"bad number {text!r}")
    return t, d


def read_csv(path: str | Path, symbol: str | None = None) -> ReplayFile:
    """Parse a trades or aggTrades CSV (kind from the column count); raises ValueError if neither."""
    p = Path(path)
    sym = (symbol or symbol_from_name(p) or "").upper()
    if not sym:
        raise ValueError(
            f"{p.name}: cannot tell the symbol; name it like BTCUSDT-trades-... or pass symbol="
        )
    with p.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        rows_in = [r for r in reader if r and any(c.strip() for c in r)]
    if not rows_in:
        raise ValueError(f"{p.name}: empty file")
    ncols = len(rows_in[0])
    if ncols == 6:
        kind = "trades"
    elif ncols == 7:
        kind = "aggTrades"
    else:
        raise ValueError(f"{p.name}: {ncols} columns; expected 6 (trades) or 7 (aggTrades)")
    out = ReplayFile(p, sym, kind)
    first = rows_in[0][0].strip()
    if not first.lstrip("-").isdigit():
        out.had_header = True
        rows_in = rows_in[1:]
    for r in rows_in:
        try:
            if len(r) != ncols:
                raise ValueError("column count")
            if kind == "trades":
                tid = int(r[0])
                price, pd = _decimal_str(r[1])
                qty, qd = _decimal_str(r[2])
                t_ms, m, f, last = int(r[4]), _bool(r[5]), tid, tid
            else:
                tid = int(r[0])
                price, pd = _decimal_str(r[1])
                qty, qd = _decimal_str(r[2])
                f, last, t_ms, m = int(r[3]), int(r[4]), int(r[5]), _bool(r[6])
            if pd <= 0:
                raise ValueError("price")
        except (ValueError, InvalidOperation):
            out.skipped_bad += 1
            continue
        if qd == 0:
            out.skipped_zero += 1
            continue
        out.rows.append(Row(tid, price, qty, t_ms, m, f, last))
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
