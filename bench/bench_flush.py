"""Flush throughput: `TradeWriter` (COPY into staging + INSERT ON CONFLICT) vs `psql \\copy`.

`psql \\copy` of the same rows from a CSV straight into `trades` is the
server's own ceiling (no Python, no staging, no conflict check). Both run in
one process against a throwaway database on the local server, which is
created, migrated and dropped here:

    .venv/bin/python bench/bench_flush.py            # 200,000 rows
    .venv/bin/python bench/bench_flush.py --rows 500000 --batch 1000 --batch 10000

A second variant stages timestamptz built in Python (datetime objects) instead
of int8 converted in SQL, to show which the writer should use.

Durability: the writer commits with `synchronous_commit = on` (a batch leaves
the spool only once its commit is on disk), while the local cluster's default
is `off`. Both sides run both ways in the same run: `psql \\copy` with the
cluster default and with `PGOPTIONS=-c synchronous_commit=on`, and the writer
as shipped (on) and with `synchronous_commit = off`, so the cost of durability
is measured against the server's own bulk-load rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from quant_platform.domain import Trade
from quant_platform.storage.migrate import migrate
from quant_platform.storage.trade_writer import TradeWriter

log = logging.getLogger("bench_flush")
ADMIN = "postgresql://qp@127.0.0.1:55432/postgres"
RESULTS = Path(__file__).resolve().parent / "results" / "flush.json"
T0 = 1_767_225_600_000
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = (
    "time",
    "symbol",
    "trade_id",
    "price",
    "qty",
    "is_buyer_maker",
    "event_time",
    "receive_time",
    "kind",
    "fill_type",
)


def make_trades(n: int) -> list[Trade]:
    """One day of 4 symbols' trades (synthetic, deterministic)."""
    now = time.time_ns()
    return [
        Trade(
            SYMBOLS[i % 4],
            i,
            100.0 + (i % 997) / 7,
            0.001 * (1 + i % 13),
            T0 + i * 400,
            T0 + i * 400 + 2,
            i % 3 == 0,
            now + i * 1000,
        )
        for i in range(n)
    ]


def _ts(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def write_csv(trades: Sequence[Trade], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        for t in trades:
            w.writerow(
                (
                    _ts(t.trade_time_ms).isoformat(),
                    t.symbol,
                    t.trade_id,
                    repr(t.price),
                    repr(t.qty),
                    "t" if t.buyer_is_maker else "f",
                    _ts(t.event_time_ms).isoformat(),
                    (EPOCH + timedelta(microseconds=t.receive_time_ns // 1000)).isoformat(),
                    t.kind,
                    t.fill_type,
                )
            )


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE trades")
        conn.execute("CHECKPOINT")


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def timed(label: str, url: str, n: int, fn: Callable[[], None], repeat: int) -> float:
    """Best rows/s of `repeat` runs into an empty table."""
    best = 0.0
    for _ in range(repeat):
        truncate(url)
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        got = count(url)
        if got != n:
            raise RuntimeError(f"{label}: {got} rows stored, expected {n}")
        best = max(best, n / dt)
    log.info("%-34s %10.0f rows/s", label, best)
    return best


class DatetimeWriter(TradeWriter):
    """Variant: staging columns typed timestamptz, datetimes built in Python."""

    DDL = (
        "CREATE TEMP TABLE IF NOT EXISTS bench_staging (LIKE trades INCLUDING DEFAULTS)"
        " ON COMMIT DELETE ROWS"
    )
    TYPES = [
        "timestamptz",
        "text",
        "int8",
        "float8",
        "float8",
        "bool",
        "timestamptz",
        "timestamptz",
        "text",
        "text",
    ]

    def _connection(self) -> psycopg.Connection:
        fresh = self._conn is None or self._conn.closed
        conn = super()._connection()
        if fresh:
            conn.execute(self.DDL)
            conn.commit()
        return conn

    def write(self, trades: Sequence[Trade]) -> int:
        conn = self._connection()
        cols = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY bench_staging ({}) FROM STDIN (FORMAT BINARY)").format(cols)
            ) as copy:
                copy.set_types(self.TYPES)
                for t in trades:
                    copy.write_row(
                        (
                            _ts(t.trade_time_ms),
                            t.symbol,
                            t.trade_id,
                            t.price,
                            t.qty,
                            t.buyer_is_maker,
                            _ts(t.event_time_ms),
                            EPOCH + timedelta(microseconds=t.receive_time_ns // 1000),
                            t.kind,
                            t.fill_type,
                        )
                    )
            cur.execute(
                sql.SQL(
                    "INSERT INTO trades ({}) SELECT {} FROM bench_staging ON CONFLICT DO NOTHING"
                ).format(cols, cols)
            )
            return cur.rowcount


class AsyncCommitWriter(TradeWriter):
    """The writer with the cluster's `synchronous_commit = off` (what it ran before)."""

    def _connection(self) -> psycopg.Connection:
        fresh = self._conn is None or self._conn.closed
        conn = super()._connection()
        if fresh:
            conn.execute("SET synchronous_commit = off")
            conn.commit()
        return conn


def run_writer(writer: TradeWriter, trades: list[Trade], batch: int) -> Callable[[], None]:
    def go() -> None:
        for i in range(0, len(trades), batch):
            writer.write(trades[i : i + batch])

    return go


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument(
        "--batch",
        type=int,
        action="append",
        help="writer batch size(s); default 1000 (the daemon's) and 10000",
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    batches = args.batch or [1000, 10_000]
    psql = shutil.which("psql")
    if psql is None:
        log.error("psql not found on PATH")
        return 1
    name = f"qp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="qp_bench_flush_"))
    try:
        migrate(url)
        trades = make_trades(args.rows)
        csv_path = tmp / "trades.csv"
        write_csv(trades, csv_path)
        n = len(trades)
        copy_cmd = f"\\copy trades ({', '.join(COLUMNS)}) FROM '{csv_path}' WITH (FORMAT csv)"

        def psql_copy(sync: bool = False) -> Callable[[], None]:
            env = {**os.environ, "PGOPTIONS": "-c synchronous_commit=on"} if sync else None

            def go() -> None:
                subprocess.run(
                    [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", copy_cmd],
                    check=True,
                    capture_output=True,
                    env=env,
                )

            return go

        results: dict[str, object] = {"rows": n, "repeat_best_of": args.repeat}
        ceiling = timed("psql \\copy (CSV, straight in)", url, n, psql_copy(), args.repeat)
        ceiling_sync = timed(
            "psql \\copy, synchronous_commit=on", url, n, psql_copy(True), args.repeat
        )
        results["psql_copy_rows_per_s"] = round(ceiling)
        results["psql_copy_sync_commit_rows_per_s"] = round(ceiling_sync)
        writer_rates: dict[str, int] = {}
        async_rates: dict[str, int] = {}
        variant_rates: dict[str, int] = {}
        for b in batches:
            w = TradeWriter(url)
            writer_rates[str(b)] = round(
                timed(
                    f"TradeWriter (sync commit), {b}",
                    url,
                    n,
                    run_writer(w, trades, b),
                    args.repeat,
                )
            )
            w.close()
            a = AsyncCommitWriter(url)
            async_rates[str(b)] = round(
                timed(
                    f"  synchronous_commit=off, {b}",
                    url,
                    n,
                    run_writer(a, trades, b),
                    args.repeat,
                )
            )
            a.close()
            d = DatetimeWriter(url)
            variant_rates[str(b)] = round(
                timed(
                    f"  variant: Python datetimes, {b}",
                    url,
                    n,
                    run_writer(d, trades, b),
                    args.repeat,
                )
            )
            d.close()
        # the same rows again: every one a duplicate, all skipped (a replay's cost)
        w = TradeWriter(url)
        run_writer(w, trades, batches[0])()
        t = time.perf_counter()
        run_writer(w, trades, batches[0])()
        replay = n / (time.perf_counter() - t)
        w.close()
        log.info("%-34s %10.0f rows/s", f"replay of all-duplicate batches ({batches[0]})", replay)

        main_batch = str(batches[0])
        ratio = writer_rates[main_batch] / ceiling
        results.update(
            {
                "trade_writer_rows_per_s": writer_rates,
                "trade_writer_synchronous_commit": "on",
                "trade_writer_async_commit_rows_per_s": async_rates,
                "sync_commit_cost_ratio": {
                    k: round(writer_rates[k] / async_rates[k], 3) for k in writer_rates
                },
                "ratio_writer_to_psql_copy_sync_commit": {
                    k: round(v / ceiling_sync, 3) for k, v in writer_rates.items()
                },
                "datetime_variant_rows_per_s": variant_rates,
                "replay_all_duplicates_rows_per_s": round(replay),
                "ratio_writer_to_psql_copy": {
                    k: round(v / ceiling, 3) for k, v in writer_rates.items()
                },
                "server": server_version(url),
                "command": " ".join([".venv/bin/python bench/bench_flush.py", *sys.argv[1:]]),
            }
        )
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(
            f"TradeWriter (batches of {main_batch}) / psql \\copy = {ratio:.2f} "
            f"({writer_rates[main_batch]:,} vs {round(ceiling):,} rows/s); wrote {RESULTS}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
