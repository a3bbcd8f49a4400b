"""Remote-leg reader throughput: how many trades/s one shard can follow from another's stream.

Run: .venv/bin/python bench/bench_remote_legs.py [--entries 200000] [--repeat 3]
A cross-shard pair's daemon reads the remote leg's `ticks:{SYMBOL}` stream
(ingestion/remote_legs.py). This fills one stream with `entries` trades written
exactly as RedisTickSink writes them (id, p, q, T, m), then, side by side in the
same run against the same Redis:

  baseline: a bare XREAD loop (same COUNT, same client) that only counts entries;
  ours:     RemoteLegReader.read_once, parsing each entry into the live bars.

Ratio: ours / baseline entries per second (the parse + bar update overhead on top
of the Redis reads it cannot avoid). Keys go under a `qp_bench_<hex>:` prefix and
are deleted afterwards. Writes bench/results/remote_legs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import uuid
from pathlib import Path

import redis
from redis.utils import HIREDIS_AVAILABLE

from quant_platform.ingestion.live_bars import LiveBars
from quant_platform.ingestion.remote_legs import RemoteLegReader
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import redis_client

OUT = Path(__file__).resolve().parent / "results" / "remote_legs.json"
REDIS = os.environ.get("QP_BENCH_REDIS", "redis://127.0.0.1:56379/0")
SYMBOL = "SOLUSDT"


def fill(r: redis.Redis, key: str, entries: int) -> None:
    """`entries` trades, 50 per second of trade time, in 5,000-entry pipelines."""
    t0 = int(time.time() * 1000) - entries * 20
    for start in range(0, entries, 5000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(entries, start + 5000)):
            price = 150.0 + (i % 97) * 0.01
            fields = {"id": i, "p": price, "q": 0.5, "T": t0 + i * 20, "m": i % 2}
            pipe.xadd(key, fields)  # type: ignore[arg-type]
        pipe.execute()


async def bare(keys: RedisKeys, entries: int) -> float:
    client = redis_client(REDIS)
    last, n = "0-0", 0
    t0 = time.perf_counter()
    while n < entries:
        reply = await client.xread({keys.ticks(SYMBOL): last}, count=5000)
        for _, rows in reply:
            n += len(rows)
            last = rows[-1][0]
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return entries / elapsed


async def ours(keys: RedisKeys, entries: int) -> float:
    bars = LiveBars(1, 3600)
    reader = RemoteLegReader(
        REDIS,
        keys,
        (SYMBOL,),
        lambda _s, t, p, q, m: bars.add(t, p, q, m),
        history_s=0,
        block_ms=0,
    )
    reader.legs[SYMBOL].last_id = "0-0"
    t0 = time.perf_counter()
    while reader.legs[SYMBOL].entries < entries:
        await reader.read_once()
    elapsed = time.perf_counter() - t0
    await reader.close()
    assert len(bars) > 0 and reader.bad_entries == 0
    return entries / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    keys = RedisKeys(f"qp_bench_{uuid.uuid4().hex[:8]}:")
    r = redis.Redis.from_url(REDIS)
    try:
        fill(r, keys.ticks(SYMBOL), args.entries)
        runs = []
        for _ in range(args.repeat):  # interleaved, so load drifts hit both sides alike
            runs.append(
                (asyncio.run(bare(keys, args.entries)), asyncio.run(ours(keys, args.entries)))
            )
    finally:
        r.delete(keys.ticks(SYMBOL))
    base = max(b for b, _ in runs)
    best = max(o for _, o in runs)
    result = {
        "entries": args.entries,
        "bare_xread_entries_per_s": round(base),
        "reader_entries_per_s": round(best),
        "ratio_reader_vs_bare": round(best / base, 2),
        "runs": [[round(b), round(o)] for b, o in runs],
        "parser": "hiredis" if HIREDIS_AVAILABLE else "python",
        "load_avg": os.getloadavg()[0],
        "python": platform.python_version(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"bare XREAD {base:,.0f} entries/s, RemoteLegReader {best:,.0f} entries/s "
        f"({best / base:.2f}x), {result['parser']} parser, load avg {result['load_avg']:.1f}"
    )


if __name__ == "__main__":
    main()
