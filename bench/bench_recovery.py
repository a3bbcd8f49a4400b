"""Recovery time after a restart against the length of the gap.

Run: .venv/bin/python bench/bench_recovery.py [--agg-gaps 1000,10000,50000]
     [--trade-gaps 500,5000,20000] [--rate 4000]
For each stream kind and gap length: the real daemon streams from the simulator
and is stopped; the simulator publishes `gap` more ids (aggTrades, or trades for
@trade) and then halts, so the gap is fixed; a new daemon starts and the clock
runs from its start until everything the venue published is stored (rows in
`trades`, the backfill queue empty). The baseline, measured in the same run on
the same simulator, is a bare httpx loop paging `/fapi/v1/aggTrades` by `fromId`
over the same ids (the least any REST recovery can cost); ratio = recovery /
baseline. For @trade gaps over 1,000 the daemon fills the older part from
aggTrades by time window, so its baseline is paging the aggTrades covering the gap.

The simulator's weight limit and the daemon's budget are lifted to measure the
recovery itself; at Binance's 2,400 weight/min the budget alone allows 120,000
aggTrades (120 pages of 20) per minute, reported as `budget_floor_s`.
Creates and drops its own `qp_bench_<hex>` database. Writes bench/results/recovery.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import redis

from quant_platform.config import load_settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.migrate import migrate

OUT = Path(__file__).resolve().parent / "results" / "recovery.json"
PG = os.environ.get("QP_BENCH_PG", "postgresql://qp@127.0.0.1:55432")
REDIS = os.environ.get("QP_BENCH_REDIS", "redis://127.0.0.1:56379/0")
SYMBOLS = ("BTCUSDT",)
WEIGHT_PER_MIN = 2400


def published(sim: ExchangeSimulator, kind: str) -> int:
    if kind == "aggTrade":
        return sum(len(sim.agg_history(s)) for s in SYMBOLS)
    return sum(len(sim.history(s)) for s in SYMBOLS)


def stored(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


async def bare_paging(rest_url: str, symbol: str, from_id: int, to_id: int) -> float:
    """Seconds to page aggTrades from_id..to_id by fromId with a bare client."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=rest_url, timeout=30) as client:
        nxt = from_id
        while nxt <= to_id:
            r = await client.get(
                "/fapi/v1/aggTrades", params={"symbol": symbol, "fromId": nxt, "limit": 1000}
            )
            rows = r.json()
            if not rows:
                break
            nxt = rows[-1]["a"] + 1
    return time.perf_counter() - t0


async def one_point(kind: str, gap: int, rate: float, db_url: str, prefix: str) -> dict:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE trades")
    sim = ExchangeSimulator(SYMBOLS, rate=rate, seed=9, weight_limit_per_min=10**9)
    await sim.start()
    data_dir = Path(tempfile.mkdtemp(prefix="qp-bench-recovery-"))
    settings = load_settings(
        database_url=db_url,
        redis_url=REDIS,
        redis_prefix=prefix,
        data_dir=data_dir,
        feed_url=sim.url,
        rest_url=sim.rest_url,
        symbols=",".join(SYMBOLS),
        stream=kind,
        flush_interval_s=0.5,
        flush_max_rows=5000,
        analytics_interval_s=5,
    )
    try:
        first = IngestionDaemon(settings, metrics_port=0)
        task = asyncio.create_task(first.run(install_signals=False))
        while first.counts["accepted"] < 200:
            await asyncio.sleep(0.05)
        first.request_stop()
        await task
        base = published(sim, kind)
        while published(sim, kind) < base + gap:  # the venue goes on without us
            await asyncio.sleep(0.05)
        await sim.halt()
        total = published(sim, kind)
        second = IngestionDaemon(settings, metrics_port=0)
        second.backfiller.budget.per_minute = 10**9
        t0 = time.perf_counter()
        task = asyncio.create_task(second.run(install_signals=False))
        backfill_s = None
        target = total if kind == "aggTrade" else None
        while True:
            await asyncio.sleep(0.02)
            idle = second.gap_filler.idle() and second.resumed
            if idle and backfill_s is None:
                backfill_s = time.perf_counter() - t0
            if idle and second.flusher.pending == 0:
                n = stored(db_url)
                if target is None or n >= target:
                    break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"{kind} gap {gap}: not recovered in 600 s")
        recovery_s = time.perf_counter() - t0
        second.request_stop()
        await task
        c = second.counts
        aggs = sim.agg_history(SYMBOLS[0])
        if kind == "aggTrade":
            lo, hi = aggs[-gap].agg_id, aggs[-1].agg_id
        else:
            fills = sim.history(SYMBOLS[0])
            first_missing = fills[-gap].trade_id
            lo = next(a.agg_id for a in aggs if a.last_id >= first_missing)
            hi = aggs[-1].agg_id
        bare_s = await bare_paging(sim.rest_url, SYMBOLS[0], lo, hi)
        pages = (hi - lo) // 1000 + 1
        return {
            "kind": kind,
            "gap": gap,
            "published": total,
            "stored_rows": stored(db_url),
            "backfilled": c["backfilled"],
            "backfilled_via_agg": c.get("backfilled_via_agg", 0),
            "unrecovered": c["unrecovered"],
            "recovery_s": round(recovery_s, 3),
            "backfill_done_s": round(backfill_s or recovery_s, 3),
            "bare_paging_s": round(bare_s, 3),
            "ratio": round(recovery_s / bare_s, 2) if bare_s > 0 else None,
            "rest_pages": pages,
            "budget_floor_s": round(pages * 20 / WEIGHT_PER_MIN * 60, 1),
        }
    finally:
        await sim.stop()


async def main(args: argparse.Namespace) -> dict:
    name = f"qp_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"qpbench{uuid.uuid4().hex[:6]}:"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"{PG}/{name}"
    points = []
    try:
        migrate(db_url)
        for kind, gaps in (("aggTrade", args.agg_gaps), ("trade", args.trade_gaps)):
            for gap in gaps:
                p = await one_point(kind, gap, args.rate, db_url, prefix)
                print(json.dumps(p), flush=True)
                points.append(p)
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        r = redis.Redis.from_url(REDIS)
        keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            r.delete(*keys)
    return {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "rate": args.rate,
        "points": points,
    }


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agg-gaps", type=_ints, default=[1000, 10_000, 50_000])
    ap.add_argument("--trade-gaps", type=_ints, default=[500, 5000, 20_000])
    ap.add_argument("--rate", type=float, default=4000.0, help="simulator trades/s")
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(main(ap.parse_args()))
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")
