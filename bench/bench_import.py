"""`qp import` throughput: a Binance trades file vs `psql \\copy` of the same rows.

The baseline is `psql \\copy` of the same trades, already in the table's own CSV
layout, straight into `trades` (no parsing, no validation, no staging, no
conflict check): the server's ceiling. `qp import` parses and validates the
venue's file (`id,price,qty,quote_qty,time,is_buyer_maker`), COPYs it into
staging and inserts idempotently. Target: >= 50 % of the baseline. Both run
against a throwaway database on the local server, created and dropped here:

    .venv/bin/python bench/bench_import.py              # 2,000,000 rows
    .venv/bin/python bench/bench_import.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from quant_platform.storage.history_import import import_files
from quant_platform.storage.migrate import migrate

log = logging.getLogger("bench_import")
ADMIN = "postgresql://qp@127.0.0.1:55432/postgres"
RESULTS = Path(__file__).resolve().parent / "results" / "import.json"
T0 = 1_790_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write_files(n: int, tmp: Path) -> tuple[Path, Path]:
    """The venue's file (header, rows shuffled in blocks) and the same rows in table layout."""
    venue = tmp / "BTCUSDT-trades-2026-09-21.csv"
    table = tmp / "table.csv"
    with venue.open("w") as fv, table.open("w") as ft:
        fv.write("id,price,qty,quote_qty,time,is_buyer_maker\n")
        for i in range(n):
            j = i ^ 7  # locally unsorted, as archives can be
            t = T0 + j * 40
            price = f"{60000 + (j % 997) / 10:.1f}"
            qty = f"{0.001 * (1 + j % 13):.3f}"
            m = "true" if j % 3 == 0 else "false"
            fv.write(f"{j},{price},{qty},{float(price) * float(qty):.6f},{t},{m}\n")
            ts = (EPOCH + timedelta(milliseconds=t)).isoformat()
            ft.write(f"{ts},BTCUSDT,{j},{price},{qty},{m},{ts},{ts},trade,MARKET\n")
    return venue, table


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE trades")
        conn.execute("CHECKPOINT")


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    psql = shutil.which("psql")
    if psql is None:
        log.error("psql not found on PATH")
        return 1
    name = f"qp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="qp_bench_import_"))
    try:
        migrate(url)
        venue, table = write_files(args.rows, tmp)
        cols = (
            "time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time,"
            " kind, fill_type"
        )
        copy_cmd = f"\\copy trades ({cols}) FROM '{table}' WITH (FORMAT csv)"
        best_psql = best_qp = 0.0
        for _ in range(args.repeat):
            reset(url)
            t = time.perf_counter()
            subprocess.run(
                [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", copy_cmd],
                check=True,
                capture_output=True,
            )
            dt = time.perf_counter() - t
            assert count(url) == args.rows
            best_psql = max(best_psql, args.rows / dt)
            reset(url)
            t = time.perf_counter()
            summary = import_files(url, [venue])
            dt = time.perf_counter() - t
            assert summary.stored == args.rows == count(url), summary.stored
            best_qp = max(best_qp, args.rows / dt)
        t = time.perf_counter()
        again = import_files(url, [venue])
        reimport = args.rows / (time.perf_counter() - t)
        assert again.stored == 0
        ratio = best_qp / best_psql
        log.info("psql \\copy (table CSV, straight in) %10.0f rows/s", best_psql)
        log.info("qp import (venue file, validated)    %10.0f rows/s", best_qp)
        log.info("qp import again (all duplicates)     %10.0f rows/s", reimport)
        log.info("ratio qp import / psql \\copy = %.2f (target >= 0.50)", ratio)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "rows": args.rows,
                    "repeat_best_of": args.repeat,
                    "psql_copy_rows_per_s": round(best_psql),
                    "qp_import_rows_per_s": round(best_qp),
                    "qp_reimport_rows_per_s": round(reimport),
                    "ratio_import_to_psql_copy": round(ratio, 3),
                    "target_ratio": 0.5,
                },
                indent=2,
            )
            + "\n"
        )
        return 0 if ratio >= 0.5 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    raise SystemExit(main())
