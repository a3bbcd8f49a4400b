"""End-to-end ingestion benchmark: simulator → daemon → tick buffer, Redis, TimescaleDB.

Run: .venv/bin/python bench/bench_ingest.py [--rates 5000,10000,20000] [--duration 8]
     [--latency-rate 2000] [--latency-duration 10]
Everything runs in one process and one event loop (simulator and consumer share it,
as in quant_platform_tests/ingestion/daemon_harness.py). It creates and drops its
own `qp_bench_<hex>` database and deletes its own Redis keys afterwards.

(a) ceiling: the simulator at an unbounded rate, read by a bare websockets client that
    only counts frames (and records them for (c)): the most this loop can deliver.
    sustained: the real daemon at increasing offered rates for `duration` s each; a rate
    passes when every published trade was accepted, is a row in `trades`, and an entry
    in the Redis tick streams, and the daemon had accepted everything within 1 s of
    the simulator finishing. Stops at the first rate that fails. Ratio: best passing
    accepted/s over the bare-client ceiling.
(b) receive → sink latency p50/p99 per sink (db, redis) at `latency-rate`, from the
    daemon's own `qp_sink_latency_seconds` histogram (bucket-interpolated), with the
    daemon's default flush settings (flush_interval_s=5, flush_max_rows=1000).
(c) hand-off: `daemon.on_frame` (decode, validate, continuity, hand-off to all three
    sinks and the live bars) on the recorded frames vs bare `json.loads` of them.
Writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis
from websockets.asyncio.client import connect

from quant_platform.config import load_settings
from quant_platform.feed.routes import combined_url
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.migrate import migrate
from quant_platform.storage.redis_keys import RedisKeys

OUT = Path(__file__).resolve().parent / "results" / "ingest.json"
PG = os.environ.get("QP_BENCH_PG", "postgresql://qp@127.0.0.1:55432")
REDIS = os.environ.get("QP_BENCH_REDIS", "redis://127.0.0.1:56379/0")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
KIND = "trade"


def published(sim: ExchangeSimulator) -> int:
    return sum(len(sim.history(s)) for s in SYMBOLS)


# --- (a) ceiling: bare client ---------------------------------------------------------------
async def bare_client(total: int, keep: int) -> tuple[dict, list[str]]:
    sim = ExchangeSimulator(SYMBOLS, rate=10_000_000.0, total_trades=total, seed=5)
    await sim.start()
    frames: list[str] = []
    n = 0
    try:
        async with connect(
            combined_url(sim.url, KIND, SYMBOLS), max_size=None, ping_interval=None
        ) as ws:
            t0 = 0.0
            async for msg in ws:
                if n == 0:
                    t0 = time.perf_counter()
                n += 1
                if len(frames) < keep:
                    frames.append(msg if isinstance(msg, str) else msg.decode())
                if n >= total:
                    break
            elapsed = time.perf_counter() - t0
    finally:
        await sim.stop()
    return {"frames": n, "seconds": round(elapsed, 3), "frames_per_s": round(n / elapsed)}, frames


# --- daemon runs ---------------------------------------------------------------------------
def settings_for(sim: ExchangeSimulator, db_url: str, prefix: str, data_dir: Path):  # noqa: ANN201
    return load_settings(
        database_url=db_url,
        redis_url=REDIS,
        redis_prefix=prefix,
        data_dir=data_dir,
        feed_url=sim.url,
        rest_url=sim.rest_url,
        symbols=SYMBOLS,
        stream=KIND,
        redis_stream_maxlen=5_000_000,
        reconnect_base_s=0.05,
        reconnect_cap_s=0.5,
    )


def reset_stores(db_url: str, prefix: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE trades")
    delete_keys(prefix)


def delete_keys(prefix: str) -> int:
    r = redis.Redis.from_url(REDIS)
    keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        r.delete(*keys)
    return len(keys)


def db_rows(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (symbol, trade_id)) FROM trades"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def histogram_quantiles(daemon: IngestionDaemon, q: tuple[float, ...]) -> dict[str, dict]:
    buckets: dict[str, list[tuple[float, float]]] = {}
    for metric in daemon.registry.collect():
        if metric.name != "qp_sink_latency_seconds":
            continue
        for s in metric.samples:
            if s.name.endswith("_bucket"):
                buckets.setdefault(s.labels["sink"], []).append((float(s.labels["le"]), s.value))
    out = {}
    for sink, bs in buckets.items():
        bs.sort()
        total = bs[-1][1]
        res: dict[str, float | int | None] = {"count": int(total)}
        for qq in q:
            target, prev_le, prev_c, val = qq * total, 0.0, 0.0, None
            for le, c in bs:
                if c >= target and total > 0:
                    if le == float("inf"):
                        val = prev_le
                    else:
                        frac = (target - prev_c) / (c - prev_c) if c > prev_c else 1.0
                        val = prev_le + frac * (le - prev_le)
                    break
                prev_le, prev_c = le, c
            res[f"p{round(qq * 100)}_ms"] = None if val is None else round(val * 1e3, 2)
        out[sink] = res
    return out


async def daemon_run(
    rate: float, duration: float, db_url: str, prefix: str, data_dir: Path, latency: bool = False
) -> dict:
    reset_stores(db_url, prefix)
    data_dir = Path(tempfile.mkdtemp(dir=data_dir))  # own spool per run
    total = int(rate * duration)
    sim = ExchangeSimulator(SYMBOLS, rate=rate, total_trades=total, seed=11)
    await sim.start()
    settings = settings_for(sim, db_url, prefix, data_dir)
    if not latency:  # the tail (< flush_max_rows) waits at most 1 s instead of 5 s
        settings = settings.model_copy(update={"flush_interval_s": 1.0})
    daemon = IngestionDaemon(settings, metrics_port=0)
    task = asyncio.create_task(daemon.run(install_signals=False))
    t_first = t_done = t_all = None
    deadline = time.monotonic() + duration * 3 + 30
    try:
        while time.monotonic() < deadline and not task.done():
            now = time.perf_counter()
            if t_first is None and daemon.counts["received"] > 0:
                t_first = now
            if t_done is None and sim.finished.is_set():
                t_done = now
            if t_all is None and t_done is not None and daemon.counts["accepted"] >= published(sim):
                t_all = now
            # stop only once nothing is in flight (as the test harness does): a stop during
            # a COPY is a shutdown path, not what this measures
            if t_all is not None and daemon.flusher.pending == 0 and daemon.flusher.db_up:
                break
            await asyncio.sleep(0.01)
        t_stop0 = time.perf_counter()
        daemon.request_stop()
        code = await asyncio.wait_for(task, timeout=60)
        stop_s = time.perf_counter() - t_stop0
    finally:
        if not task.done():
            task.cancel()
        await sim.stop()
    pub = published(sim)
    rows, distinct = db_rows(db_url)
    r = redis.Redis.from_url(REDIS)
    keys = RedisKeys(prefix)
    in_redis = sum(int(r.xlen(keys.ticks(s))) for s in SYMBOLS)
    c = daemon.counts
    accept_s = (t_all - t_first) if (t_all and t_first) else None
    lag = (t_all - t_done) if (t_all and t_done) else None
    res = {
        "offered_per_s": rate,
        "published": pub,
        "accepted": c["accepted"],
        "rejected": c["rejected"],
        "gap_trades": c["gap_trades"],
        "duplicates": c["duplicates"],
        "db_rows": rows,
        "db_distinct": distinct,
        "redis_entries": in_redis,
        "redis_dropped": daemon.redis_sink.dropped,
        "accepted_per_s": round(c["accepted"] / accept_s) if accept_s else None,
        "lag_after_sim_done_s": None if lag is None else round(lag, 3),
        "final_flush_s": round(stop_s, 3),
        "spooled_rows": daemon.flusher.spooled_rows,
        "sim_generated_per_s": round(pub / (t_done - t_first)) if (t_done and t_first) else None,
        "exit_code": code,
    }
    zero_loss = (
        c["accepted"] == pub == rows == distinct == in_redis
        and c["rejected"] == 0
        and c["gap_trades"] == 0
        and daemon.redis_sink.dropped == 0
    )
    res["zero_loss"] = zero_loss
    res["kept_up"] = lag is not None and lag <= 1.0
    res["passed"] = zero_loss and res["kept_up"] and code == 0
    if latency:
        res["sink_latency"] = histogram_quantiles(daemon, (0.5, 0.99))
        res["flush_interval_s"] = settings.flush_interval_s
        res["flush_max_rows"] = settings.flush_max_rows
    return res


# --- (c) hand-off -------------------------------------------------------------------------
def handoff(frames: list[str], db_url: str, prefix: str, data_dir: Path, repeats: int = 3) -> dict:
    ours, ref = [], []
    for _ in range(repeats):
        daemon = IngestionDaemon(
            load_settings(
                database_url=db_url,
                redis_url=REDIS,
                redis_prefix=prefix,
                data_dir=data_dir,
                symbols=SYMBOLS,
                stream=KIND,
                redis_stream_maxlen=5_000_000,
            ),
            metrics_port=0,
        )
        on_frame, now = daemon.on_frame, time.time_ns
        t0 = time.perf_counter()
        for f in frames:
            on_frame(f, now())
        ours.append(time.perf_counter() - t0)
        assert daemon.counts["accepted"] == len(frames), daemon.counts
        loads = json.loads
        t0 = time.perf_counter()
        for f in frames:
            loads(f)
            now()
        ref.append(time.perf_counter() - t0)
    n = len(frames)
    o, j = min(ours) / n * 1e9, min(ref) / n * 1e9
    return {
        "frames": n,
        "repeats": repeats,
        "on_frame_ns": round(o),
        "json_loads_ns": round(j),
        "on_frame_over_json_loads": round(o / j, 2),
    }


async def main_async(a: argparse.Namespace) -> dict:
    name = f"qp_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"qpbench{uuid.uuid4().hex[:8]}:"
    admin, db_url = f"{PG}/postgres", f"{PG}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        migrate(db_url)
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            ceiling, frames = await bare_client(a.ceiling_trades, a.handoff_frames)
            print(f"bare client ceiling: {ceiling['frames_per_s']:,} frames/s")
            stages = []
            for rate in a.rates:
                st = await daemon_run(rate, a.duration, db_url, prefix, data_dir)
                stages.append(st)
                print(
                    f"offered {rate:,.0f}/s: accepted {st['accepted_per_s']}/s, lag "
                    f"{st['lag_after_sim_done_s']} s, zero_loss={st['zero_loss']} "
                    f"passed={st['passed']}"
                )
                if not st["passed"]:
                    break
            lat = await daemon_run(
                a.latency_rate, a.latency_duration, db_url, prefix, data_dir, latency=True
            )
            print(f"latency at {a.latency_rate}/s: {lat['sink_latency']}")
            ho = handoff(frames, db_url, prefix, data_dir)
            print(
                f"hand-off: on_frame {ho['on_frame_ns']} ns vs json.loads {ho['json_loads_ns']} ns"
            )
    finally:
        delete_keys(prefix)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    passing = [s for s in stages if s["passed"]]
    best = max(passing, key=lambda s: s["accepted_per_s"]) if passing else None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "stream": KIND,
        "symbols": list(SYMBOLS),
        "ceiling_bare_client": ceiling,
        "sustained": stages,
        "max_sustained_offered_per_s": best["offered_per_s"] if best else None,
        "max_sustained_accepted_per_s": best["accepted_per_s"] if best else None,
        "daemon_vs_bare_client": round(best["accepted_per_s"] / ceiling["frames_per_s"], 3)
        if best
        else None,
        "first_failing_rate": next((s["offered_per_s"] for s in stages if not s["passed"]), None),
        "latency": lat,
        "handoff": ho,
        "command": ".venv/bin/python bench/bench_ingest.py",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[5000.0, 10000.0, 20000.0],
    )
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--ceiling-trades", type=int, default=100_000)
    ap.add_argument("--handoff-frames", type=int, default=100_000)
    ap.add_argument("--latency-rate", type=float, default=2000.0)
    ap.add_argument("--latency-duration", type=float, default=10.0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        res = asyncio.run(main_async(a))
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(res, indent=2) + "\n")
        print(
            f"max sustained {res['max_sustained_accepted_per_s']}/s = "
            f"{res['daemon_vs_bare_client']} of the bare-client ceiling"
        )


if __name__ == "__main__":
    main()
