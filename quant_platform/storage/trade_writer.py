"""Write trade batches to TimescaleDB: binary COPY into staging, then one idempotent INSERT.

COPY straight into `trades` would abort the whole batch on the first
duplicate (a replay, a backfill overlap); staging + `ON CONFLICT DO NOTHING`
keeps every other row. Times travel as integers and become timestamptz in SQL,
so the hot loop builds no datetime objects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg

from quant_platform.domain import Trade

log = logging.getLogger(__name__)

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS trades_staging (
    t_ms bigint, symbol text, trade_id bigint, price float8, qty float8, m boolean,
    e_ms bigint, r_ns bigint, kind text, fill_type text
) ON COMMIT DELETE ROWS
"""
COPY_SQL = (
    "COPY trades_staging (t_ms, symbol, trade_id, price, qty, m, e_ms, r_ns, kind, fill_type)"
    " FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ["int8", "text", "int8", "float8", "float8", "bool", "int8", "int8", "text", "text"]
INSERT_SQL = """
INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time,
                    receive_time, kind, fill_type)
SELECT 'epoch'::timestamptz + t_ms * interval '1 millisecond', symbol, trade_id, price, qty, m,
       'epoch'::timestamptz + e_ms * interval '1 millisecond',
       'epoch'::timestamptz + (r_ns / 1000) * interval '1 microsecond', kind, fill_type
FROM trades_staging
ON CONFLICT DO NOTHING
"""


class TradeWriter:
    """One connection, reopened after any error; `write` raises psycopg.Error when the DB is down."""

    def __init__(self, database_url: str, connect_timeout: float = 3.0) -> None:
        self.database_url = database_url
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.database_url, connect_timeout=int(self.connect_timeout))
            conn.execute(STAGING_DDL)
            conn.commit()
            self._conn = conn
        return self._conn

    def write(self, trades: Sequence[Trade]) -> int:
        """Store a batch; returns rows actually inserted (the rest were already there)."""
        if not trades:
            return 0
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    for t in trades:
                        copy.write_row((t.trade_time_ms, t.symbol, t.trade_id, t.price, t.qty,
                                        t.buyer_is_maker, t.event_time_ms, t.receive_time_ns,
                                        t.kind, t.fill_type))  # fmt: skip
                cur.execute(INSERT_SQL)
                return cur.rowcount
        except psycopg.Error:
            self.reset()
            raise

    def reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def close(self) -> None:
        self.reset()
