"""Load parsed public-data files into TimescaleDB: text COPY into staging, idempotent INSERT.

Trades go through the daemon writer's own staging table and INSERT (so the
import and the live feed share one definition of "already stored"); klines go
into `ohlcv` with `ON CONFLICT DO NOTHING`. Each chunk is one transaction, so
a second import of the same file inserts nothing and an interrupted import
resumes cleanly when re-run. The COPY is text format written from the file's
own digits: no float formatting, no per-field Python objects beyond the parse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import psycopg
from psycopg import sql

from quant_platform.feed.public_files import (
    FileIdentity,
    KlineRecord,
    ParseReport,
    TradeRecord,
    identify,
    iter_chunks,
)
from quant_platform.storage.trade_writer import INSERT_SQL, STAGING, STAGING_DDL

_DIRECT_COPY = sql.SQL(
    "COPY trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time,"
    " kind, fill_type) FROM STDIN"
)
_SPAN_HAS_ROWS = (
    "SELECT 1 FROM trades WHERE symbol = %s AND time >= 'epoch'::timestamptz + %s * interval"
    " '1 millisecond' AND time <= 'epoch'::timestamptz + %s * interval '1 millisecond' LIMIT 1"
)
log = logging.getLogger(__name__)
_TRADE_COPY = sql.SQL(
    "COPY {} (t_ms, symbol, trade_id, price, qty, m, e_ms, r_ns, kind, fill_type) FROM STDIN"
).format(sql.Identifier(STAGING))

KLINE_STAGING = "qp_kline_staging"
_KLINE_DDL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} (t_ms int8, symbol text, interval text, open float8,"
    " high float8, low float8, close float8, volume float8, quote_volume float8,"
    " trade_count int8, buy_volume float8) ON COMMIT DELETE ROWS"
).format(sql.Identifier(KLINE_STAGING))
_KLINE_COPY = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(KLINE_STAGING))
_KLINE_INSERT = sql.SQL(
    "INSERT INTO ohlcv (bucket, symbol, interval, open, high, low, close, volume, quote_volume,"
    " vwap, trade_count, buy_volume)"
    " SELECT 'epoch'::timestamptz + t_ms * interval '1 millisecond', symbol, interval, open,"
    " high, low, close, volume, quote_volume, quote_volume / NULLIF(volume, 0), trade_count,"
    " buy_volume FROM {} ON CONFLICT DO NOTHING"
).format(sql.Identifier(KLINE_STAGING))


def _trade_lines(chunk: list[TradeRecord], symbol: str, kind: str) -> bytes:
    # public files carry no receive time: the trade time stands in for event and receive time
    tail = f"\t{kind}\tMARKET\n"
    return "".join(
        [
            f"{r[0]}\t{symbol}\t{r[1]}\t{r[2]}\t{r[3]}\t{'t' if r[4] else 'f'}\t{r[0]}\t"
            f"{r[0] * 1_000_000}{tail}"
            for r in chunk
        ]
    ).encode()


def _kline_lines(chunk: list[KlineRecord], symbol: str, interval: str) -> bytes:
    return "".join(
        [
            f"{r[0]}\t{symbol}\t{interval}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{r[6]}\t"
            f"{r[7]}\t{r[8]}\n"
            for r in chunk
        ]
    ).encode()


@lru_cache(maxsize=4096)
def _second_text(sec: int) -> str:
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _direct_lines(chunk: list[TradeRecord], symbol: str, kind: str) -> bytes:
    """Rows in `trades`' own column layout; times as text built from a per-second cache."""
    sec = _second_text
    out = []
    for r in chunk:
        t = r[0]
        ts = f"{sec(t // 1000)}.{t % 1000:03d}+00"
        out.append(
            f"{ts}\t{symbol}\t{r[1]}\t{r[2]}\t{r[3]}\t{'t' if r[4] else 'f'}\t{ts}\t{ts}\t"
            f"{kind}\tMARKET\n"
        )
    return "".join(out).encode()


def _store_trades(conn: psycopg.Connection, ident: FileIdentity, chunk: list) -> int:
    """Optimistic: COPY straight into `trades` when nothing of the chunk's span is stored yet.

    A first import then costs what `psql \\copy` costs. If the span already holds
    trades of this symbol (a re-import, an overlap with the feed), or the direct
    COPY meets a duplicate (one repeated inside the file), the chunk goes through
    the staging table and `ON CONFLICT DO NOTHING` instead, so the result is the
    same either way.
    """
    kind = ident.kind.stream_kind
    lo = min(r[0] for r in chunk)
    hi = max(r[0] for r in chunk)
    conn.execute(STAGING_DDL)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_SPAN_HAS_ROWS, (ident.symbol, lo, hi))
        if cur.fetchone() is None:
            try:
                with conn.transaction(), cur.copy(_DIRECT_COPY) as copy:
                    copy.write(_direct_lines(chunk, ident.symbol, kind))
                return len(chunk)
            except psycopg.errors.UniqueViolation:
                log.debug("%s: duplicate inside the chunk, staging it instead", ident.symbol)
        with cur.copy(_TRADE_COPY) as copy:
            copy.write(_trade_lines(chunk, ident.symbol, kind))
        cur.execute(INSERT_SQL)
        return max(cur.rowcount, 0)


def _store_klines(conn: psycopg.Connection, ident: FileIdentity, chunk: list) -> int:
    conn.execute(_KLINE_DDL)
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(_KLINE_COPY) as copy:
            copy.write(_kline_lines(chunk, ident.symbol, ident.interval or "1m"))
        cur.execute(_KLINE_INSERT)
        return max(cur.rowcount, 0)


Store = Callable[[psycopg.Connection, FileIdentity, list], int]
# Keyed by FileKind.table: a new kind writing a new table registers its store here.
STORES: dict[str, Store] = {"trades": _store_trades, "ohlcv": _store_klines}


def register_store(table: str, store: Store) -> None:
    """Route records of kinds whose `table` is `table` to `store(conn, ident, chunk) -> stored`."""
    STORES[table] = store


@dataclass
class FileResult:
    """One file's outcome: the parse report plus rows the database took."""

    report: ParseReport
    ident: FileIdentity | None
    stored: int = 0
    error: str | None = None

    @property
    def duplicates(self) -> int:
        return self.report.accepted - self.stored


@dataclass
class ImportSummary:
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.report.rows_read for f in self.files)

    @property
    def stored(self) -> int:
        return sum(f.stored for f in self.files)

    def rejected(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.report.rejected.items():
                out[k] = out.get(k, 0) + v
        return out

    def spans(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(symbol, table) → (first ms, last ms) over every accepted row."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for f in self.files:
            r = f.report
            if f.ident is None or r.first_ms is None or r.last_ms is None:
                continue
            key = (f.ident.symbol, f.ident.kind.table)
            lo, hi = out.get(key, (r.first_ms, r.last_ms))
            out[key] = (min(lo, r.first_ms), max(hi, r.last_ms))
        return out


def import_file(
    conn: psycopg.Connection,
    path: str | Path,
    symbol: str | None = None,
    kind: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    data: bytes | None = None,
) -> FileResult:
    """Parse and store one file; returns its result (never raises for a bad file or row).

    `conn` must be in autocommit mode: each chunk commits on its own. A file that
    can't be read at all is reported in `error`; a bad row in its report.
    Database errors (unreachable, permissions) propagate as psycopg.Error.
    """
    from quant_platform.feed.public_files import FileFormatError

    try:
        ident = identify(path, symbol, kind, data)
    except FileFormatError as exc:
        return FileResult(ParseReport(str(path), symbol or "", kind or ""), None, error=str(exc))
    report = ParseReport(str(path), ident.symbol, ident.kind.name)
    result = FileResult(report, ident)
    try:
        store = STORES[ident.kind.table]
    except KeyError:
        result.error = f"no store registered for table {ident.kind.table!r}"
        return result
    # The database stores chunk N (one worker thread, the connection's only user) while
    # this thread parses chunk N+1: parsing and the server's COPY overlap.
    pending: Future[int] | None = None
    seen = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qp-import") as pool:
        try:
            for chunk in iter_chunks(path, ident, report, data):
                if pending is not None:
                    result.stored += pending.result()
                pending = pool.submit(store, conn, ident, chunk)
                if on_progress is not None:
                    on_progress(report.rows_read - seen)
                    seen = report.rows_read
            if on_progress is not None and report.rows_read > seen:
                on_progress(report.rows_read - seen)
        except FileFormatError as exc:
            result.error = str(exc)
        except (UnicodeDecodeError, OSError) as exc:
            result.error = f"{Path(path).name}: cannot read ({exc})"
        finally:
            if pending is not None:
                result.stored += pending.result()
    return result


def import_files(
    database_url: str,
    paths: Iterable[str | Path],
    symbol: str | None = None,
    kind: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import every file over one connection; see :func:`import_file`.

    Raises:
        psycopg.OperationalError: the database is unreachable.
    """
    summary = ImportSummary()
    with psycopg.connect(database_url, autocommit=True, application_name="qp-import") as conn:
        for p in paths:
            summary.files.append(import_file(conn, p, symbol, kind, on_progress))
    return summary


# --- dashboard uploads: same parser, own tables, tagged with a source --------------------------
_UP_TRADES_DDL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS qp_upload_trades (t_ms int8, symbol text, kind text,"
    " trade_id int8, price float8, qty float8, m bool) ON COMMIT DELETE ROWS"
)
_UP_TRADES_COPY = sql.SQL("COPY qp_upload_trades FROM STDIN")
_UP_TRADES_INSERT = sql.SQL(
    "INSERT INTO uploaded_trades (source, time, symbol, kind, trade_id, price, qty,"
    " is_buyer_maker) SELECT %s, 'epoch'::timestamptz + t_ms * interval '1 millisecond',"
    " symbol, kind, trade_id, price, qty, m FROM qp_upload_trades ON CONFLICT DO NOTHING"
)
_UP_BARS_DDL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS qp_upload_bars (t_ms int8, symbol text, interval text,"
    " open float8, high float8, low float8, close float8, volume float8, quote_volume float8)"
    " ON COMMIT DELETE ROWS"
)
_UP_BARS_COPY = sql.SQL("COPY qp_upload_bars FROM STDIN")
_UP_BARS_INSERT = sql.SQL(
    "INSERT INTO uploaded_ohlcv (source, bucket, symbol, interval, open, high, low, close,"
    " volume, quote_volume) SELECT %s, 'epoch'::timestamptz + t_ms * interval '1 millisecond',"
    " symbol, interval, open, high, low, close, volume, quote_volume FROM qp_upload_bars"
    " ON CONFLICT DO NOTHING"
)


def store_upload(
    conn: psycopg.Connection, source: str, ident: FileIdentity, records: list[tuple]
) -> int:
    """Store parsed upload records under `source` in uploaded_trades / uploaded_ohlcv.

    Never touches the feed's `trades`/`ohlcv`. Idempotent per (source, row).
    Returns rows inserted.

    Raises:
        ValueError: an empty source tag, or a kind with no upload table.
        psycopg.Error: the database refused or is unreachable.
    """
    source = source.strip()
    if not source:
        raise ValueError("source tag is empty; name the upload, e.g. upload:my-backtest-data")
    if not records:
        return 0
    if ident.kind.table == "trades":
        ddl, copy_sql, insert = _UP_TRADES_DDL, _UP_TRADES_COPY, _UP_TRADES_INSERT
        kind = ident.kind.stream_kind
        body = "".join(
            f"{r[0]}\t{ident.symbol}\t{kind}\t{r[1]}\t{r[2]}\t{r[3]}\t{'t' if r[4] else 'f'}\n"
            for r in records
        )
    elif ident.kind.table == "ohlcv":
        ddl, copy_sql, insert = _UP_BARS_DDL, _UP_BARS_COPY, _UP_BARS_INSERT
        iv = ident.interval or "1m"
        body = "".join(
            f"{r[0]}\t{ident.symbol}\t{iv}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t"
            f"{r[6] if r[6] != '' else chr(92) + 'N'}\n"
            for r in records
        )
    else:
        raise ValueError(f"{ident.kind.name} files can't be uploaded (no upload table)")
    conn.execute(ddl)
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(copy_sql) as copy:
            copy.write(body.encode())
        cur.execute(insert, (source,))
        return max(cur.rowcount, 0)


def upload_sources(conn: psycopg.Connection) -> list[tuple]:
    """(source, table, symbol, rows, first, last) of everything uploaded."""
    return conn.execute(
        "SELECT source, 'trades', symbol, count(*), min(time), max(time) FROM uploaded_trades"
        " GROUP BY 1, 2, 3 UNION ALL"
        " SELECT source, 'ohlcv', symbol, count(*), min(bucket), max(bucket) FROM uploaded_ohlcv"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
