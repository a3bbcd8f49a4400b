"""Longest gap between handled frames while the live analytics run: inline vs thread vs process.

Run: .venv/bin/python bench/bench_feed_stall.py [--cycles 4] [--rate 600]

The simulator runs in its own process (`qp sim`, 12 symbols, `rate` trades/s
over the real WebSocket); this process holds one `FeedConnection` whose
`on_frame` decodes each frame with the daemon's `TradeDecoder` and feeds the
live bars, exactly as the daemon's hot path does. `LiveAnalytics` has 12
symbols x 3,600 one-second bars (66 pairs) and runs `cycles` cycles, one per
second, in each mode, side by side in one run:

  none     no analytics: the feed's own gaps (arrival noise, the machine's load)
  inline   the cycle on the event loop (the daemon before this change)
  thread   the cycle in a worker thread (numpy releases the GIL only in part)
  process  the cycle in a worker process (QP_ANALYTICS_WORKER=process, the default)

Reports per mode the longest and p99 gap between handled frames and the cycle
time. The target is a longest gap under 50 ms with 66 pairs.
Writes bench/results/feed_stall.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from quant_platform.config import load_settings
from quant_platform.feed.backoff import Backoff
from quant_platform.feed.connection import ConnectionEvents, FeedConnection
from quant_platform.feed.decoder import TradeDecoder
from quant_platform.feed.routes import plan_connections
from quant_platform.ingestion.live_analytics import LiveAnalytics
from quant_platform.services.local import free_port

OUT = Path(__file__).resolve().parent / "results" / "feed_stall.json"
SYMBOLS = (
    "BTCUSDT",
    "ETHUSDT",
    "BNBUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "DOGEUSDT",
    "AVAXUSDT",
    "LINKUSDT",
    "DOTUSDT",
    "LTCUSDT",
    "TRXUSDT",
)
BARS = 3600


def build(worker: str, seed: int = 3, bars: int = BARS) -> LiveAnalytics:
    """12 cointegrated legs, an hour of 1 s bars each (as bench_live_cycle, for 12 symbols)."""
    settings = load_settings(
        symbols=",".join(SYMBOLS),
        analytics_window_s=bars,
        analytics_bar_s=1,
        analytics_worker=worker if worker != "none" else "inline",
    )
    live = LiveAnalytics(settings)
    rng = np.random.default_rng(seed)
    common = np.cumsum(rng.normal(0, 2e-4, bars))
    t0_ms = (int(time.time()) - bars) * 1000
    for k, sym in enumerate(SYMBOLS):
        beta = 0.6 + 0.05 * k
        noise = np.zeros(bars)
        for i in range(1, bars):
            noise[i] = 0.97 * noise[i - 1] + rng.normal(0, 1e-4)
        prices = (100.0 + 10 * k) * np.exp(beta * common + noise)
        for i in range(bars):
            live.on_trade(sym, t0_ms + i * 1000 + 500, float(prices[i]), 0.01, bool(i & 1))
    return live


async def measure(url: str, live: LiveAnalytics, mode: str, cycles: int) -> dict[str, object]:
    decoder = TradeDecoder(symbols=frozenset(SYMBOLS))
    times: list[float] = []

    def on_frame(raw: str | bytes, receive_ns: int) -> str | None:
        times.append(time.perf_counter())
        t = decoder.decode(raw, receive_ns).trade
        if t is None:
            return None
        live.on_trade(t.symbol, t.trade_time_ms, t.price, t.qty, t.buyer_is_maker)
        return f"{t.symbol.lower()}@{t.kind}"

    plan = plan_connections(url, "trade", list(SYMBOLS))[0]
    events = ConnectionEvents(on_frame, lambda u, r: None, lambda r, s: None, lambda r: None)
    conn = FeedConnection(
        "bench",
        lambda: (plan.route, plan.url, plan.streams),
        events,
        Backoff(0.1, 1.0, 5),
        silence_s=30,
        quiet_silence_s=30,
        quiet_streams=frozenset(),
        max_age_s=3600,
    )
    stop = asyncio.Event()
    feed = asyncio.create_task(conn.run(stop))
    while len(times) < 200:  # connected and flowing
        await asyncio.sleep(0.05)
    if mode != "none":  # warm the worker (a process imports numpy once)
        await live.compute_off_loop()
    start = len(times)
    cycle_ms = []
    for _ in range(cycles):
        await asyncio.sleep(1.0)
        if mode != "none":
            t = time.perf_counter()
            await live.compute_off_loop()
            cycle_ms.append((time.perf_counter() - t) * 1000)
    await asyncio.sleep(0.5)
    stop.set()
    await feed
    live.close()
    gaps = np.diff(np.array(times[start:])) * 1000
    return {
        "frames": int(gaps.size + 1),
        "max_gap_ms": round(float(gaps.max()), 1),
        "p99_gap_ms": round(float(np.percentile(gaps, 99)), 2),
        "cycle_wall_ms_median": round(statistics.median(cycle_ms), 1) if cycle_ms else None,
        "compute_ms_last": round(live.last_cycle_ms, 1) if mode != "none" else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=4)
    ap.add_argument("--rate", type=float, default=600.0)
    ap.add_argument("--modes", default="none,inline,thread,process")
    ap.add_argument("--bars", type=int, default=BARS, help="bars per symbol (window)")
    args = ap.parse_args()
    port = free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quant_platform.cli.main",
            "sim",
            "--port",
            str(port),
            "--symbols",
            ",".join(SYMBOLS),
            "--rate",
            str(args.rate),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"ws://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        import socket

        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or sim.poll() is not None:
                    raise SystemExit("simulator did not start") from None
                time.sleep(0.2)
        results: dict[str, object] = {}
        for mode in args.modes.split(","):
            live = build(mode, bars=args.bars)
            results[mode] = asyncio.run(measure(url, live, mode, args.cycles))
            print(f"{mode:8s} {results[mode]}", flush=True)
    finally:
        sim.terminate()
        sim.wait(10)
    res = {
        "symbols": len(SYMBOLS),
        "pairs": len(SYMBOLS) * (len(SYMBOLS) - 1) // 2,
        "bars": args.bars,
        "rate_trades_per_s": args.rate,
        "cycles_per_mode": args.cycles,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "modes": results,
        "command": " ".join([".venv/bin/python bench/bench_feed_stall.py", *sys.argv[1:]]),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
