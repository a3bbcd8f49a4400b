"""Write trade batches to TimescaleDB: binary COPY into staging, then one idempotent INSERT.

COPY straight into `trades` would abort the whole batch on the first
duplicate (a replay, a backfill overlap); COPY into a session-lived temp table
(emptied at each commit) followed by `INSERT ... SELECT ... ON CONFLICT DO
NOTHING` keeps every other row, including when the batch repeats a trade
itself. Times travel as int8 and become timestamptz in SQL, so the hot loop
builds no datetime objects (measured in bench/bench_flush.py: the fastest way).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg import sql

from quant_platform.domain import Trade

log = logging.getLogger(__name__)
_ROW_ERRORS = (psycopg.DataError, psycopg.IntegrityError)

STAGING = "qp_trades_staging"
_COLUMNS = ("t_ms", "symbol", "trade_id", "price", "qty", "m", "e_ms", "r_ns", "kind", "fill_type")
COPY_TYPES = ["int8", "text", "int8", "float8", "float8", "bool", "int8", "int8", "text", "text"]

STAGING_DDL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} ("
    " t_ms int8, symbol text, trade_id int8, price float8, qty float8, m bool,"
    " e_ms int8, r_ns int8, kind text, fill_type text) ON COMMIT DELETE ROWS"
).format(sql.Identifier(STAGING))
COPY_SQL = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.Identifier(STAGING), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
)
INSERT_SQL = sql.SQL(
    "INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time,"
    " receive_time, kind, fill_type)"
    # exact: interval * float8 stays below 2**53 microseconds until the year 2255
    " SELECT 'epoch'::timestamptz + t_ms * interval '1 millisecond', symbol, trade_id, price,"
    " qty, m, 'epoch'::timestamptz + e_ms * interval '1 millisecond',"
    " 'epoch'::timestamptz + (r_ns / 1000) * interval '1 microsecond', kind, fill_type"
    " FROM {} ON CONFLICT DO NOTHING"
).format(sql.Identifier(STAGING))


class TradeWriter:
    """One connection of its own, opened lazily and reopened after any error.

    Not thread-safe: use one writer per thread (the flusher calls it from one
    worker thread at a time).
    """

    def __init__(
        self, database_url: str, connect_timeout: float = 3.0, statement_timeout_s: float = 30.0
    ) -> None:
        self.database_url = database_url
        self.connect_timeout = connect_timeout
        self.statement_timeout_s = statement_timeout_s
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(
                self.database_url,
                connect_timeout=max(1, round(self.connect_timeout)),
                # a hung server or a dead peer must fail the write, not the worker thread
                # forever; and a batch counts as stored only once its commit is on disk
                # (the local cluster runs synchronous_commit=off for everyone else)
                options=(
                    f"-c statement_timeout={int(self.statement_timeout_s * 1000)}"
                    " -c synchronous_commit=on"
                ),
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                application_name="qp-trade-writer",
            )
            try:
                conn.execute(STAGING_DDL)
                conn.commit()
            except psycopg.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def write(self, trades: Sequence[Trade]) -> int:
        """Store a batch in one transaction; returns the rows actually inserted.

        The rest were already stored (or repeated within the batch). Raises
        psycopg.OperationalError when the database is unreachable (its subclass
        psycopg.errors.QueryCanceled when the batch outran the statement timeout), and
        psycopg.DataError / IntegrityError when a row itself is unacceptable;
        either way nothing of the batch is committed and the connection is reset.
        """
        if not trades:
            return 0
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(COPY_SQL) as copy:
                    copy.set_types(COPY_TYPES)
                    write_row = copy.write_row
                    for t in trades:
                        write_row(
                            (
                                t.trade_time_ms,
                                t.symbol,
                                t.trade_id,
                                t.price,
                                t.qty,
                                t.buyer_is_maker,
                                t.event_time_ms,
                                t.receive_time_ns,
                                t.kind,
                                t.fill_type,
                            )
                        )
                cur.execute(INSERT_SQL)
                return max(cur.rowcount, 0)
        except psycopg.Error as exc:
            # A refused row rolls back cleanly and the session is fine; anything else
            # (lost connection, timeout) gets a fresh connection next time.
            conn = self._conn
            if conn is None or conn.broken or not isinstance(exc, _ROW_ERRORS):
                self.reset()
            raise

    def reset(self) -> None:
        """Drop the connection; the next write reconnects."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    def close(self) -> None:
        self.reset()
