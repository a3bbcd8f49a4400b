"""In-database resampling (the `ohlcv` asset's SQL) vs fetching the trades into pandas.

One day of synthetic trades for 4 symbols is generated inside PostgreSQL
(generate_series, so seeding costs no Python), then both sides compute 1 m,
5 m and 1 h OHLCV bars for the same day in the same run:

    .venv/bin/python bench/bench_resample.py --rows 5000000
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from quant_platform.orchestration.ohlcv.assets import resample_window
from quant_platform.storage.migrate import migrate

ADMIN = "postgresql://qp@127.0.0.1:55432/postgres"
DAY = datetime(2026, 3, 2, tzinfo=UTC)
SEED_SQL = """
INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time)
SELECT %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day',
       (ARRAY['BTCUSDT','ETHUSDT','BNBUSDT','SOLUSDT'])[1 + g %% 4], g,
       (ARRAY[60000,3000,600,150])[1 + g %% 4] * (1 + 0.01 * sin(g / 50000.0)) + random(),
       random() + 0.001, random() < 0.5,
       %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day',
       %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day'
FROM generate_series(0, %(n)s - 1) AS g
"""


def pandas_resample(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    cur = conn.execute(
        "SELECT time, symbol, price, qty, is_buyer_maker FROM trades"
        " WHERE time >= %s AND time < %s ORDER BY symbol, time, trade_id",
        (start, end),
    )
    df = pd.DataFrame(cur.fetchall(), columns=["time", "symbol", "price", "qty", "m"])
    df["notional"] = df["price"] * df["qty"]
    df["buy"] = df["qty"].where(~df["m"], 0.0)
    bars = 0
    for freq in ("1min", "5min", "1h"):
        g = df.groupby(["symbol", pd.Grouper(key="time", freq=freq)])
        out = g.agg(
            open=("price", "first"),
            high=("price", "max"),
            low=("price", "min"),
            close=("price", "last"),
            volume=("qty", "sum"),
            quote=("notional", "sum"),
            count=("price", "size"),
            buy=("buy", "sum"),
        )
        out["vwap"] = out["quote"] / out["volume"]
        bars += len(out)
    return bars


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    args = ap.parse_args()
    name = f"qp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        with psycopg.connect(url) as conn:
            t = time.perf_counter()
            conn.execute(SEED_SQL, {"day": DAY, "n": args.rows})
            conn.commit()
            conn.execute("ANALYZE trades")
            seed_s = time.perf_counter() - t
            end = DAY + timedelta(days=1)
            t = time.perf_counter()
            counts = resample_window(conn, DAY, end)
            conn.commit()
            db_s = time.perf_counter() - t
            t = time.perf_counter()
            pd_bars = pandas_resample(conn, DAY, end)
            pd_s = time.perf_counter() - t
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    result = {
        "rows": args.rows,
        "seed_s": round(seed_s, 2),
        "in_database_s": round(db_s, 2),
        "pandas_fetch_and_resample_s": round(pd_s, 2),
        "speedup": round(pd_s / db_s, 1),
        "db_bars": counts,
        "pandas_bars": pd_bars,
        "command": f".venv/bin/python bench/bench_resample.py --rows {args.rows}",
    }
    out = Path(__file__).parent / "results" / "resample.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
