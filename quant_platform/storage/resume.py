"""Where the store stops: the newest stored id per (symbol, kind), and holes below it.

Read once when the daemon starts, so a restart (after a stop, a crash or
`kill -9`, with rows that were in memory and never flushed) backfills exactly
what the venue published meanwhile. Holes catch the other way a crash loses
trades: a gap that was queued for backfill while newer rows were already
flushed. Both queries ride the unique index (symbol, kind, trade_id, time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

_NEWEST_SQL = """
SELECT trade_id, (extract(epoch FROM time) * 1000)::int8
FROM trades
WHERE symbol = %(symbol)s AND kind = %(kind)s
  AND time > now() - make_interval(secs => %(lookback)s)
ORDER BY trade_id DESC LIMIT 1
"""

# Holes in the id sequence inside the window. For @trade, a hole is skipped when
# aggTrade rows lie between its neighbours: an earlier run filled it from aggTrades
# (whatever that left was counted unrecovered by that run).
_HOLES_SQL = """
WITH s AS (
    SELECT trade_id, time,
           lead(trade_id) OVER (ORDER BY trade_id) AS next_id,
           lead(time) OVER (ORDER BY trade_id) AS next_time
    FROM trades
    WHERE symbol = %(symbol)s AND kind = %(kind)s
      AND time > now() - make_interval(secs => %(window)s)
)
SELECT trade_id + 1, next_id - 1,
       (extract(epoch FROM time) * 1000)::int8, (extract(epoch FROM next_time) * 1000)::int8
FROM s
WHERE next_id > trade_id + 1
  AND NOT (%(kind)s = 'trade' AND EXISTS (
      SELECT 1 FROM trades a WHERE a.symbol = %(symbol)s AND a.kind = 'aggTrade'
        AND a.time >= s.time AND a.time <= s.next_time))
ORDER BY trade_id
LIMIT %(max_holes)s
"""


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """The newest stored trade of one stream."""

    symbol: str
    kind: str
    last_id: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class StoredHole:
    """Ids `from_id..to_id` missing between two stored trades (times `after_ms`, `before_ms`)."""

    symbol: str
    kind: str
    from_id: int
    to_id: int
    after_ms: int
    before_ms: int


def read_resume_state(
    database_url: str,
    symbols: Iterable[str],
    kind: str,
    *,
    lookback_s: float,
    hole_window_s: float,
    max_holes: int = 1000,
    connect_timeout_s: float = 5.0,
) -> tuple[list[ResumePoint], list[StoredHole]]:
    """Newest stored id and recent holes per symbol for the stream `kind`.

    Raises:
        psycopg.OperationalError: the database is unreachable (the daemon then starts
            without resuming and says so).
    """
    points: list[ResumePoint] = []
    holes: list[StoredHole] = []
    with psycopg.connect(
        database_url, connect_timeout=max(1, round(connect_timeout_s)), autocommit=True
    ) as conn:
        for symbol in symbols:
            row = conn.execute(
                _NEWEST_SQL, {"symbol": symbol, "kind": kind, "lookback": lookback_s}
            ).fetchone()
            if row is None:
                continue
            points.append(ResumePoint(symbol, kind, int(row[0]), int(row[1])))
            if hole_window_s <= 0:
                continue
            for lo, hi, a_ms, b_ms in conn.execute(
                _HOLES_SQL,
                {"symbol": symbol, "kind": kind, "window": hole_window_s, "max_holes": max_holes},
            ):
                holes.append(StoredHole(symbol, kind, int(lo), int(hi), int(a_ms), int(b_ms)))
    return points, holes
