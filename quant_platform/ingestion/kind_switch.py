"""Carry a stream across a `QP_STREAM` change (trade <-> aggTrade) without a hole.

Trade ids and aggTrade ids are different sequences, so the newest stored row of
the old kind says nothing about where the new kind starts by id. It does by
*time*, and one REST call turns it into an id of the new kind:

* aggTrade → trade: the newest stored aggTrade `a` covers trade ids `f..l`
  (`/fapi/v1/aggTrades?fromId=a`), so the trade stream continues after `l`.
* trade → aggTrade: the aggTrade holding the newest stored trade `X` is found
  in the window from its time (`f <= X <= l`); the aggTrade stream continues
  after it. If it also holds trades after `X` (it straddles the switch), those
  `l - X` trades are in neither kind: counted unrecovered, never stored twice.

The preference (documented in docs/operations.md, "Restart continuity"): the
stream resumes from whichever kind's newest stored row is newer by time; the
daemon's own kind wins a tie.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from quant_platform.feed.backfill import MAX_WINDOW_MS, RestBackfiller
from quant_platform.storage.resume import ResumePoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CarryOver:
    """Where the new kind resumes (`point`, in its own ids) and trades lost at the seam."""

    point: ResumePoint
    unrecovered: int = 0


def newer_by_time(
    mine: dict[str, ResumePoint], theirs: dict[str, ResumePoint]
) -> list[ResumePoint]:
    """The other kind's points that are newer than this kind's (or this kind has none)."""
    out = []
    for symbol, other in theirs.items():
        own = mine.get(symbol)
        if own is None or other.last_ms > own.last_ms:
            out.append(other)
    return out


async def carry_over(bf: RestBackfiller, other: ResumePoint, kind: str) -> CarryOver | None:
    """The resume point of stream `kind` after `other`, the newest row of the other kind.

    None when the venue no longer has the aggTrade needed (the caller keeps its own
    point, or starts fresh).

    Raises:
        ValueError: `kind` is the same as `other.kind` or unknown.
        BackfillError, Throttled: the venue refused (the caller logs and goes on).
    """
    sym = other.symbol
    if other.kind == "aggTrade" and kind == "trade":
        rows = await bf.agg_page(sym, from_id=other.last_id)
        row = next((r for r in rows if r.a == other.last_id), None)
        if row is None:
            return None
        return CarryOver(ResumePoint(sym, "trade", row.l, other.last_ms))
    if other.kind == "trade" and kind == "aggTrade":
        rows = await bf.agg_page(sym, start_ms=other.last_ms, end_ms=other.last_ms + MAX_WINDOW_MS)
        holder = next((r for r in rows if r.f <= other.last_id <= r.l), None)
        if holder is None:
            return None
        return CarryOver(ResumePoint(sym, "aggTrade", holder.a, holder.T), holder.l - other.last_id)
    raise ValueError(f"no carry-over from {other.kind!r} to {kind!r}")
