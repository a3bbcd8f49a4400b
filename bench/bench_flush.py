"""Flush benchmark: `TradeWriter.write` vs `psql \\copy` of the same rows, same table, same run.

Run: .venv/bin/python bench/bench_flush.py [--rows 200000] [--repeats 2]
Creates (and drops) its own `qp_bench_<hex>` database on QP_BENCH_PG (default
postgresql://qp@127.0.0.1:55432), migrates it, and times, interleaved, on an
emptied `trades` hypertable each time:
  ours     TradeWriter(url).write(rows)  (binary COPY into staging + INSERT .. ON CONFLICT)
  ceiling  psql -c "\\copy trades (...) FROM rows.csv CSV"  (the server's own bulk-load path)
Both load exactly the same rows into the same table shape (indexes, unique key,
hypertable). Reports best-of-repeats rows/s and ours/ceiling. Writes bench/results/flush.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from quant_platform.domain import Trade
from quant_platform.storage.migrate import migrate
from quant_platform.storage.trade_writer import TradeWriter

OUT = Path(__file__).resolve().parent / "results" / "flush.json"
PG = os.environ.get("QP_BENCH_PG", "postgresql://qp@127.0.0.1:55432")
COLS = (
    "time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time, kind, fill_type"
)


def make_trades(n: int) -> list[Trade]:
    t0 = 1_767_225_600_000  # 2026-01-01
    syms = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
    out = []
    for i in range(n):
        t = t0 + i // 4
        out.append(Trade(symbol=syms[i % 4], trade_id=i // 4 + 1, price=60000.0 + (i % 997) * 0.1,
                         qty=0.001 * (1 + i % 13), trade_time_ms=t, event_time_ms=t,
                         buyer_is_maker=bool(i & 1), receive_time_ns=t * 1_000_000 + 12_345))  # fmt: skip
    return out


def _ts_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def write_csv(trades: list[Trade], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        for t in trades:
            w.writerow((_ts_ms(t.trade_time_ms), t.symbol, t.trade_id, repr(t.price), repr(t.qty),
                        "t" if t.buyer_is_maker else "f", _ts_ms(t.event_time_ms),
                        datetime.fromtimestamp(t.receive_time_ns / 1e9, UTC).isoformat(),
                        t.kind, t.fill_type))  # fmt: skip


def count_and_truncate(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM trades").fetchone()
        conn.execute("TRUNCATE trades")
    assert row is not None
    return int(row[0])


def run(rows: int, repeats: int) -> dict:
    name = f"qp_bench_{uuid.uuid4().hex[:10]}"
    admin = f"{PG}/postgres"
    url = f"{PG}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        migrate(url)
        trades = make_trades(rows)
        ours_s: list[float] = []
        psql_s: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rows.csv"
            write_csv(trades, path)
            copy_cmd = f"\\copy trades ({COLS}) FROM '{path}' WITH (FORMAT csv)"
            count_and_truncate(url)
            for _ in range(repeats):
                writer = TradeWriter(url)
                writer._connection()  # connect outside the timing, as the flusher does
                t0 = time.perf_counter()
                inserted = writer.write(trades)
                ours_s.append(time.perf_counter() - t0)
                writer.close()
                assert inserted == rows and count_and_truncate(url) == rows, inserted
                t0 = time.perf_counter()
                subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", copy_cmd],
                               check=True, capture_output=True)  # fmt: skip
                psql_s.append(time.perf_counter() - t0)
                assert count_and_truncate(url) == rows
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    ours_rps = rows / min(ours_s)
    psql_rps = rows / min(psql_s)
    return {
        "rows": rows,
        "repeats": repeats,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "unit": "rows per second (best of repeats, interleaved, same table, emptied each time)",
        "ours_trade_writer_rps": round(ours_rps),
        "psql_copy_csv_rps": round(psql_rps),
        "ours_vs_psql_copy": round(ours_rps / psql_rps, 3),
        "ours_s": [round(s, 4) for s in ours_s],
        "psql_s": [round(s, 4) for s in psql_s],
        "note": "psql time includes starting psql and connecting (~tens of ms); ours excludes connect",
        "command": ".venv/bin/python bench/bench_flush.py",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    res = run(a.rows, a.repeats)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(
        f"TradeWriter.write {res['ours_trade_writer_rps']:,} rows/s | psql \\copy "
        f"{res['psql_copy_csv_rps']:,} rows/s | ratio {res['ours_vs_psql_copy']:.2f}"
    )


if __name__ == "__main__":
    main()
