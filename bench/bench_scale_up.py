"""Scale-up benchmark: zero-loss trades/s of one daemon (and of 2 shards), simulator apart.

Run: .venv/bin/python bench/bench_scale_up.py [--rates 10000,20000,30000] [--duration 5]
     [--shards 1,2] [--latency-rate 2000] [--profile DIR] [--loop asyncio|uvloop]

Every party has its own process (multiprocessing, spawn): the exchange simulator
(`ExchangeSimulator`, the same server `qp sim` runs), and each consumer. A consumer
is either the real `IngestionDaemon` (tick buffer + Redis + TimescaleDB, as
`qp ingest [--shard I/N]` builds it, minus the alert/funding side tasks) or a
bare websockets client that only counts frames: the ceiling under the same
conditions. Both run on the event loop `qp ingest` installs (`--loop` overrides).

A run publishes `rate x duration` trades. It passes when every consumer together
got every published trade within `--keep-up-s` (1 s) of the simulator finishing,
and, for daemons, accepted == published == DB rows == distinct (symbol, id) ==
Redis stream entries with nothing rejected, spooled or dropped. The ladder
runs the bare client and the daemon side by side at each rate (same machine
load) and stops a consumer at its first failing rate; the report is each side's
best passing rate and their ratio. The simulator's own limit is reported too:
its send lag behind generation, and the bare client at an unbounded rate.

Latency at `--latency-rate`: per trade, from the daemon's receive stamp (taken
when the frame leaves `websocket.recv`) to the end of the Redis pipeline that
wrote it, and to its tick-buffer append; also from the venue's trade time `T`
(ms, stamped by the simulator at emission) to Redis. Exact per-trade samples, not
histogram buckets.

It creates and drops its own `qp_bench_<hex>` database and deletes its own
Redis keys. Writes bench/results/scale_up.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import multiprocessing as mp
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import redis

OUT = Path(__file__).resolve().parent / "results" / "scale_up.json"
PG = os.environ.get("QP_BENCH_PG", "postgresql://qp@127.0.0.1:55432")
REDIS = os.environ.get("QP_BENCH_REDIS", "redis://127.0.0.1:56379/0")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
KIND = "trade"
CTX = mp.get_context("spawn")


# --- event loop ------------------------------------------------------------------------------
def run_loop(coro: Any, loop: str) -> Any:
    """Run `coro` on the requested loop ("default": what `qp ingest` uses)."""
    if loop == "default":
        from quant_platform.cli.ingest_cmd import run_loop

        return run_loop(coro)
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)


# --- simulator process ---------------------------------------------------------------------
def sim_main(rate: float, total: int, subscribers: int, loop: str, conn: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    run_loop(_sim(rate, total, subscribers, conn), loop)


async def _sim(rate: float, total: int, subscribers: int, conn: Any) -> None:
    from quant_platform.simulator.arrivals import SyntheticSource
    from quant_platform.simulator.market import MarketModel
    from quant_platform.simulator.server import ExchangeSimulator

    # The market is generated before the clock starts (the same orders the live source
    # would make): generating it on the fly held the simulator near 6,000 trades/s on
    # this loaded host, so the run would measure the generator, not the consumer.
    model = MarketModel(list(SYMBOLS), seed=11)
    orders = list(
        SyntheticSource(list(SYMBOLS), rate=rate, seed=11, total_trades=total, model=model)
    )
    # The arrival process is bursty: over a few seconds its realised rate is not the
    # long-run `rate` (about 0.69 of it for this seed). Stretch the schedule, shape
    # kept, so the run offers exactly `rate` on average: total / last offset.
    span = orders[-1].offset_s
    if span > 0:
        k = total / rate / span
        for o in orders:
            o.offset_s *= k
    sim = ExchangeSimulator(
        SYMBOLS,
        rate=rate,
        source=orders,
        seed=11,
        start_subscribers=subscribers,
        ping_interval_s=None,
        history_limit=max(1_000_000, total),
    )
    await sim.start()
    conn.send(("ready", sim.url, sim.rest_url))
    while sim.generated == 0:
        await asyncio.sleep(0.0005)
    t_start = time.time()
    await sim.finished.wait()
    t_gen = time.time()
    deadline = time.monotonic() + 60
    while sim.sent_count < sim.generated and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    t_sent = time.time()
    per_symbol = {s: len(sim.history(s)) for s in SYMBOLS}
    conn.send(
        (
            "done",
            {
                "generated": sim.generated,
                "sent": sim.sent_count,
                "per_symbol": per_symbol,
                "t_start": t_start,
                "t_generated": t_gen,
                "t_sent": t_sent,
            },
        )
    )
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
    await sim.stop()


# --- consumer processes ---------------------------------------------------------------------
def consumer_main(spec: dict, counter: Any, stop: Any, conn: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    coro = _daemon(spec, counter, stop) if spec["kind"] == "daemon" else _bare(spec, counter, stop)
    prof = cProfile.Profile() if spec.get("profile") else None
    if prof is not None:
        prof.enable()
    res = run_loop(coro, spec["loop"])
    if prof is not None:
        prof.disable()
        prof.dump_stats(spec["profile"])
    conn.send(res)


async def _publish(get: Any, counter: Any, stop: Any) -> None:
    """Share the consumer's count with the parent every 5 ms; return once told to stop."""
    while not stop.is_set():
        counter.value = get()
        await asyncio.sleep(0.005)
    counter.value = get()


async def _bare(spec: dict, counter: Any, stop: Any) -> dict:
    from websockets.asyncio.client import connect

    from quant_platform.feed.routes import combined_url

    seen = [0]

    async def count(ws: Any) -> None:
        async for _ in ws:
            seen[0] += 1

    url = combined_url(spec["url"], KIND, spec["symbols"])
    async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
        reader = asyncio.create_task(count(ws))
        await _publish(lambda: seen[0], counter, stop)
        reader.cancel()
    return {"received": seen[0]}


def _daemon_settings(spec: dict) -> Any:
    from quant_platform.config import load_settings
    from quant_platform.config.sharding import shard_settings

    s = load_settings(
        database_url=spec["db_url"],
        redis_url=REDIS,
        redis_prefix=spec["prefix"],
        data_dir=Path(spec["data_dir"]),
        feed_url=spec["url"],
        rest_url=spec["rest_url"],
        symbols=SYMBOLS,
        stream=KIND,
        redis_stream_maxlen=5_000_000,
        flush_interval_s=spec["flush_interval_s"],
    )
    index, count = spec["shard"]
    return shard_settings(s, index, count) if count > 1 else s


def _instrument(daemon: Any) -> tuple[list[int], list[int], list[int]]:
    """Per-trade latency samples (ns): receive→buffer, receive→Redis, trade time→Redis."""
    buf_ns: list[int] = []
    redis_ns: list[int] = []
    venue_ns: list[int] = []
    append = daemon.buffer.append

    def timed_append(trade: Any) -> None:
        append(trade)
        buf_ns.append(time.time_ns() - trade.receive_time_ns)

    daemon.buffer.append = timed_append
    sink = daemon.redis_sink
    flush = sink.flush

    async def timed_flush() -> None:
        batch = list(sink._pending)  # noqa: SLF001 - bench instrumentation
        written = sink.written
        await flush()
        if sink.written > written:
            now = time.time_ns()
            redis_ns.extend(now - t.receive_time_ns for t in batch)
            venue_ns.extend(now - t.trade_time_ms * 1_000_000 for t in batch)

    sink.flush = timed_flush
    return buf_ns, redis_ns, venue_ns


def _quantiles(ns: list[int]) -> dict:
    if not ns:
        return {"count": 0}
    s = sorted(ns)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))] / 1e6, 3)

    return {"count": len(s), "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": q(1.0)}


async def _daemon(spec: dict, counter: Any, stop: Any) -> dict:
    from quant_platform.ingestion.daemon import IngestionDaemon

    daemon = IngestionDaemon(_daemon_settings(spec), metrics_port=0)
    samples = _instrument(daemon) if spec.get("latency") else None
    task = asyncio.create_task(daemon.run(install_signals=False))
    await _publish(lambda: daemon.counts["accepted"], counter, stop)
    deadline = time.monotonic() + 20
    # stop once nothing is in flight, as the test harness does: a stop during a COPY
    # is the shutdown path, not what this measures
    while time.monotonic() < deadline and (daemon.flusher.pending or not daemon.flusher.db_up):
        await asyncio.sleep(0.01)
    daemon.request_stop()
    code = await asyncio.wait_for(task, timeout=60)
    res = {
        "counts": dict(daemon.counts),
        "redis_written": daemon.redis_sink.written,
        "redis_dropped": daemon.redis_sink.dropped,
        "spooled_rows": daemon.flusher.spooled_rows,
        "exit_code": code,
    }
    if samples is not None:
        buf_ns, redis_ns, venue_ns = samples
        res["latency"] = {
            "receive_to_buffer": _quantiles(buf_ns),
            "receive_to_redis": _quantiles(redis_ns),
            "trade_time_to_redis": _quantiles(venue_ns),
        }
    return res


# --- one run --------------------------------------------------------------------------------
class Stores:
    """The bench's own database and Redis prefix."""

    def __init__(self) -> None:
        from quant_platform.storage.migrate import migrate

        self.name = f"qp_bench_{uuid.uuid4().hex[:10]}"
        self.prefix = f"qpbench{uuid.uuid4().hex[:8]}:"
        self.admin, self.db_url = f"{PG}/postgres", f"{PG}/{self.name}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        migrate(self.db_url)
        self.redis = redis.Redis.from_url(REDIS)

    def reset(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE trades")
        self.delete_keys()

    def delete_keys(self) -> None:
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*", count=1000))
        if keys:
            self.redis.delete(*keys)

    def stored(self) -> dict:
        from quant_platform.storage.redis_keys import RedisKeys

        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT (symbol, trade_id)) FROM trades"
            ).fetchone()
        assert row is not None
        keys = RedisKeys(self.prefix)
        xlen = sum(int(self.redis.xlen(keys.ticks(s))) for s in SYMBOLS)
        return {"db_rows": int(row[0]), "db_distinct": int(row[1]), "redis_entries": xlen}

    def drop(self) -> None:
        self.delete_keys()
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def _start_sim(rate: float, total: int, subscribers: int, loop: str) -> tuple[Any, Any, str, str]:
    parent, child = CTX.Pipe()
    proc = CTX.Process(target=sim_main, args=(rate, total, subscribers, loop, child), daemon=True)
    proc.start()
    if not parent.poll(60):
        raise RuntimeError("simulator did not start within 60 s")
    _, url, rest_url = parent.recv()
    return proc, parent, url, rest_url


def _watch(sim_conn: Any, counters: list[Any], deadline: float) -> tuple[dict | None, float | None]:
    """Until every published trade is counted by the consumers (or the deadline)."""
    done: dict | None = None
    t_all: float | None = None
    while time.monotonic() < deadline:
        if done is None and sim_conn.poll():
            done = sim_conn.recv()[1]
        if done is not None and sum(c.value for c in counters) >= done["generated"]:
            t_all = time.time()
            break
        time.sleep(0.002)
    return done, t_all


def run_once(consumer: str, rate: float, a: argparse.Namespace, stores: Stores, **kw: Any) -> dict:
    """One simulator process and `shards` consumer processes of kind `consumer`."""
    shards = kw.get("shards", 1)
    total = int(rate * kw.get("duration", a.duration))
    stores.reset()
    sim, sim_conn, url, rest_url = _start_sim(rate, total, shards, a.sim_loop)
    stop = CTX.Event()
    procs, conns, counters = [], [], []
    for i in range(shards):
        spec = {
            "kind": consumer,
            "loop": a.loop,
            "url": url,
            "rest_url": rest_url,
            "db_url": stores.db_url,
            "prefix": stores.prefix,
            "data_dir": tempfile.mkdtemp(prefix="qp-scale-"),
            "shard": (i, shards),
            "symbols": [s for j, s in enumerate(sorted(SYMBOLS)) if j % shards == i],
            "flush_interval_s": 5.0 if kw.get("latency") else 1.0,
            "latency": kw.get("latency", False),
            "profile": kw.get("profile"),
        }
        parent, child = CTX.Pipe()
        counter = CTX.Value("q", 0, lock=False)
        p = CTX.Process(target=consumer_main, args=(spec, counter, stop, child))
        p.start()
        procs.append(p)
        conns.append(parent)
        counters.append(counter)
    try:
        done, t_all = _watch(sim_conn, counters, time.monotonic() + total / rate * 3 + 60)
    finally:
        stop.set()
        results = [c.recv() if c.poll(120) else {"error": "no result"} for c in conns]
        sim_conn.send("stop")
        for p in [*procs, sim]:
            p.join(30)
            if p.is_alive():
                p.kill()
    return _summarise(consumer, rate, done, t_all, results, stores, a.keep_up_s)


def _summarise(
    consumer: str,
    rate: float,
    done: dict | None,
    t_all: float | None,
    results: list[dict],
    stores: Stores,
    keep_up_s: float,
) -> dict:
    gen = done["generated"] if done else None
    res: dict[str, Any] = {"consumer": consumer, "offered_per_s": rate, "published": gen}
    if done:
        span = done["t_generated"] - done["t_start"]
        res["sim_generated_per_s"] = round(gen / span) if span > 0 else None
        res["sim_send_lag_s"] = round(done["t_sent"] - done["t_generated"], 3)
    res["lag_after_sim_done_s"] = (
        round(t_all - done["t_generated"], 3) if (t_all and done) else None
    )
    res["consumed_per_s"] = (
        round(gen / (t_all - done["t_start"])) if (t_all and done and gen) else None
    )
    # a run counts only if the simulator really offered the rate (within 5 %)
    res["sim_offered_rate"] = bool(done and (res.get("sim_generated_per_s") or 0) >= 0.95 * rate)
    kept_up = res["lag_after_sim_done_s"] is not None and res["lag_after_sim_done_s"] <= keep_up_s
    zero_loss = t_all is not None
    if consumer == "daemon":
        res.update(stores.stored())
        accepted = sum(r.get("counts", {}).get("accepted", -1) for r in results)
        res["accepted"] = accepted
        res["rejected"] = sum(r.get("counts", {}).get("rejected", 0) for r in results)
        res["redis_dropped"] = sum(r.get("redis_dropped", 0) for r in results)
        res["spooled_rows"] = sum(r.get("spooled_rows", 0) for r in results)
        res["exit_codes"] = [r.get("exit_code") for r in results]
        zero_loss = (
            accepted == gen == res["db_rows"] == res["db_distinct"] == res["redis_entries"]
            and res["rejected"] == 0
            and res["redis_dropped"] == 0
            and all(c == 0 for c in res["exit_codes"])
        )
        if results and "latency" in results[0]:
            res["latency"] = results[0]["latency"]
    else:
        res["received"] = sum(r.get("received", 0) for r in results)
        zero_loss = res["received"] == gen
    res["zero_loss"] = zero_loss
    res["kept_up"] = kept_up
    res["passed"] = zero_loss and kept_up and res["sim_offered_rate"]
    return res


# --- ladders --------------------------------------------------------------------------------
def ladder(a: argparse.Namespace, stores: Stores, shards: int) -> dict:
    """Bare client and daemon side by side at each rate; each stops at its first failure."""
    live = {"bare": True, "daemon": True}
    stages: list[dict] = []
    for rate in a.rates:
        for consumer in ("bare", "daemon"):
            if not live[consumer]:
                continue
            st = run_once(consumer, rate, a, stores, shards=shards)
            st["shards"] = shards
            stages.append(st)
            print(
                f"{shards} x {consumer:6s} offered {rate:>8,.0f}/s: consumed "
                f"{st['consumed_per_s']}/s lag {st['lag_after_sim_done_s']} s sim send lag "
                f"{st.get('sim_send_lag_s')} s zero_loss={st['zero_loss']} passed={st['passed']}",
                flush=True,
            )
            live[consumer] = st["passed"]
        if not any(live.values()):
            break

    def best(c: str) -> float | None:
        ok = [s["offered_per_s"] for s in stages if s["consumer"] == c and s["passed"]]
        return max(ok) if ok else None

    b, d = best("bare"), best("daemon")
    return {
        "shards": shards,
        "stages": stages,
        "bare_max_zero_loss_per_s": b,
        "daemon_max_zero_loss_per_s": d,
        "daemon_vs_bare": round(d / b, 3) if (b and d) else None,
    }


def sim_ceiling(a: argparse.Namespace, stores: Stores) -> dict:
    """The simulator flat out (rate 10M/s) to one bare client: its own publish limit."""
    st = run_once("bare", 10_000_000.0, a, stores, duration=a.ceiling_trades / 10_000_000.0)
    return {
        "trades": st["published"],
        "sim_generated_per_s": st.get("sim_generated_per_s"),
        "bare_received_per_s": st["consumed_per_s"],
        "zero_loss": st["zero_loss"],
    }


def main_run(a: argparse.Namespace) -> dict:
    stores = Stores()
    try:
        if a.profile:
            Path(a.profile).mkdir(parents=True, exist_ok=True)
            path = str(Path(a.profile) / f"daemon_{int(a.rates[0])}.prof")
            st = run_once("daemon", a.rates[0], a, stores, profile=path)
            print(f"profile written to {path}: {st}")
            return {"profile": path, "run": st}
        out: dict[str, Any] = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loop": a.loop,
            "sim_loop": a.sim_loop,
            "stream": KIND,
            "symbols": list(SYMBOLS),
            "duration_s": a.duration,
            "keep_up_s": a.keep_up_s,
        }
        out["sim_ceiling"] = sim_ceiling(a, stores)
        print(f"simulator ceiling: {out['sim_ceiling']}", flush=True)
        out["ladders"] = [ladder(a, stores, n) for n in a.shards]
        if a.latency_rate:
            lat = run_once("daemon", a.latency_rate, a, stores, latency=True, duration=10.0)
            out["latency"] = {"rate": a.latency_rate, "flush_interval_s": 5.0, **lat}
            print(f"latency at {a.latency_rate}/s: {lat.get('latency')}", flush=True)
        out["command"] = "bench/bench_scale_up.py " + " ".join(a.argv)
        return out
    finally:
        stores.drop()


def main() -> None:
    def floats(s: str) -> list[float]:
        return [float(x) for x in s.split(",")]

    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", type=floats, default=[10000.0, 15000.0, 20000.0, 25000.0, 30000.0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--shards", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--keep-up-s", type=float, default=1.0)
    ap.add_argument("--ceiling-trades", type=int, default=200_000)
    ap.add_argument("--latency-rate", type=float, default=2000.0)
    ap.add_argument("--loop", choices=["default", "asyncio", "uvloop"], default="default")
    ap.add_argument("--sim-loop", choices=["default", "asyncio", "uvloop"], default="uvloop")
    ap.add_argument("--profile", help="one cProfile'd daemon run at the first rate, into DIR")
    ap.add_argument("--out", type=Path, default=OUT)
    import sys

    a = ap.parse_args()
    a.argv = sys.argv[1:]
    logging.basicConfig(level=logging.WARNING)
    res = main_run(a)
    if not a.profile:
        a.out.parent.mkdir(exist_ok=True)
        a.out.write_text(json.dumps(res, indent=2) + "\n")
        for lad in res["ladders"]:
            print(
                f"{lad['shards']} daemon(s): {lad['daemon_max_zero_loss_per_s']}/s zero loss vs "
                f"bare {lad['bare_max_zero_loss_per_s']}/s = {lad['daemon_vs_bare']}"
            )


if __name__ == "__main__":
    main()
