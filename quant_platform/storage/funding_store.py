"""funding_rates rows in and out of TimescaleDB (table from migration 0009).

Every source writes through :func:`store_funding` with ``ON CONFLICT DO
NOTHING``: the first writer of a (symbol, funding time) wins and re-runs store
nothing, so backfill, stream and import can overlap freely. Importing this
module also registers the public-data fundingRate store with `qp import`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import psycopg

from quant_platform.domain.funding import FundingRate
from quant_platform.feed.funding_files import FundingRecord
from quant_platform.feed.public_files import FileIdentity
from quant_platform.storage.history_import import register_store

_INSERT = (
    "INSERT INTO funding_rates (symbol, funding_time, funding_rate)"
    " SELECT s, 'epoch'::timestamptz + t * interval '1 millisecond', r"
    " FROM unnest(%s::text[], %s::int8[], %s::float8[]) AS u(s, t, r)"
    " ON CONFLICT DO NOTHING"
)


def store_funding(conn: psycopg.Connection, rows: Iterable[FundingRate]) -> int:
    """Insert rows (one parameterised statement); returns how many were new."""
    rows = list(rows)
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.execute(
            _INSERT,
            (
                [r.symbol for r in rows],
                [r.funding_time_ms for r in rows],
                [r.rate for r in rows],
            ),
        )
        return max(cur.rowcount, 0)


async def store_funding_async(conn: psycopg.AsyncConnection, rows: Iterable[FundingRate]) -> int:
    """:func:`store_funding` for the daemon's async connection."""
    rows = list(rows)
    if not rows:
        return 0
    async with conn.cursor() as cur:
        await cur.execute(
            _INSERT,
            (
                [r.symbol for r in rows],
                [r.funding_time_ms for r in rows],
                [r.rate for r in rows],
            ),
        )
        return max(cur.rowcount, 0)


def load_funding(
    conn: psycopg.Connection, symbol: str, start: datetime, end: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """(funding times in epoch ms, rates) for `symbol` in [start, end], ascending."""
    rows = conn.execute(
        "SELECT (extract(epoch FROM funding_time) * 1000)::int8, funding_rate"
        " FROM funding_rates WHERE symbol = %s AND funding_time BETWEEN %s AND %s"
        " ORDER BY funding_time",
        (symbol, start, end),
    ).fetchall()
    t = np.array([r[0] for r in rows], dtype=np.int64)
    return t, np.array([r[1] for r in rows], dtype=np.float64)


def _store_file_chunk(conn: psycopg.Connection, ident: FileIdentity, chunk: list) -> int:
    recs: list[FundingRecord] = chunk
    with conn.transaction():
        return store_funding(
            conn, (FundingRate(ident.symbol, r.time_ms, float(r.rate)) for r in recs)
        )


register_store("funding_rates", _store_file_chunk)
