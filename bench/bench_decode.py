"""Decode+validate throughput on recorded simulator frames: ours vs json baseline vs cryptofeed.

Frames come from the simulator's own generator (seeded), stamped with the
current time so the time-window check passes. Each contender turns a frame
into a validated trade object; run with `.venv/bin/python bench/bench_decode.py`.
Writes bench/results/decode.json.
"""

from __future__ import annotations

import asyncio
import json
import math
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quant_platform.domain.trade import Trade  # noqa: E402
from quant_platform.feed.decoder import TradeDecoder  # noqa: E402
from quant_platform.simulator.arrivals import SyntheticSource  # noqa: E402
from quant_platform.simulator.server import order_frames  # noqa: E402

N = 200_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
REPEATS = 3


def make_frames(kind: str, n: int = N, seed: int = 42) -> list[bytes]:
    src = SyntheticSource(SYMBOLS, rate=1000.0, seed=seed)
    now_ms = time.time_ns() // 1_000_000
    out: list[bytes] = []
    for order in src:
        order.agg.time_ms = now_ms
        for f in order.fills:
            f.time_ms = now_ms
        out.extend(fr.encode() for fr in order_frames(order, kind, wrapped=True))
        if len(out) >= n:
            return out[:n]
    return out


def bench_ours(frames: list[bytes]) -> float:
    dec = TradeDecoder(SYMBOLS)
    decode = dec.decode
    now = time.time_ns()
    t0 = time.perf_counter()
    for f in frames:
        decode(f, now)
    el = time.perf_counter() - t0
    assert dec.accepted == len(frames), dec.rejected
    return el


def bench_json(frames: list[bytes]) -> float:
    """json.loads + dict access + float(), with the same checks and the same Trade output."""
    symbols = frozenset(SYMBOLS)
    now = time.time_ns()
    now_ms = now // 1_000_000
    lo, hi = now_ms - 86_400_000, now_ms + 300_000
    ok = 0
    t0 = time.perf_counter()
    for f in frames:
        try:
            d = json.loads(f)["data"]
            e = d["e"]
            price, qty = float(d["p"]), float(d["q"])
            tid = d["a"] if e == "aggTrade" else d["t"]
            t_ms = d["T"]
        except (ValueError, KeyError, TypeError):
            continue
        if not (
            0 < price < math.inf
            and 0 < qty < math.inf
            and d["s"] in symbols
            and type(tid) is int
            and lo <= t_ms <= hi
        ):
            continue
        Trade(d["s"], tid, price, qty, t_ms, d["E"], d["m"], now, e, d.get("X", "MARKET"))
        ok += 1
    el = time.perf_counter() - t0
    assert ok == len(frames)
    return el


def bench_cryptofeed(frames: list[bytes]) -> tuple[float | None, str]:
    """cryptofeed 2.4.1 BinanceFutures.message_handler (aggTrade only; it ignores @trade)."""
    try:
        import cryptofeed
        from cryptofeed.defines import TRADES
        from cryptofeed.exchanges import BinanceFutures
    except Exception as exc:  # noqa: BLE001 - optional contender
        return None, f"cryptofeed not importable: {exc!r}"
    feed = object.__new__(BinanceFutures)  # skip __init__: it fetches exchangeInfo over the network
    feed.exchange_symbol_mapping = {s: s.replace("USDT", "-USDT-PERP") for s in SYMBOLS}
    feed.ignore_invalid_instruments = False
    feed.requires_authentication = False
    count = [0]

    async def cb(trade: object, ts: float) -> None:
        count[0] += 1

    feed.callbacks = {TRADES: [cb]}
    texts = [f.decode() for f in frames]

    async def run() -> float:
        handler = feed.message_handler
        t0 = time.perf_counter()
        for m in texts:
            await handler(m, None, 0.0)
        return time.perf_counter() - t0

    el = asyncio.run(run())
    assert count[0] == len(frames), count[0]
    return (
        el,
        f"cryptofeed {cryptofeed.__version__ if hasattr(cryptofeed, '__version__') else '2.4.1'}",
    )


def best(fn, frames):  # type: ignore[no-untyped-def]
    return min(fn(frames) for _ in range(REPEATS))


def main() -> None:
    results: dict[str, object] = {
        "frames": N,
        "repeats": REPEATS,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "unit": "frames per second (best of repeats, one core)",
    }
    for kind in ("aggTrade", "trade"):
        frames = make_frames(kind)
        ours = N / best(bench_ours, frames)
        base = N / best(bench_json, frames)
        row: dict[str, object] = {
            "ours_fps": round(ours),
            "json_fps": round(base),
            "ours_vs_json": round(ours / base, 2),
        }
        if kind == "aggTrade":
            times = [bench_cryptofeed(frames) for _ in range(REPEATS)]
            el, note = min(
                (t for t in times if t[0] is not None),
                default=(None, times[0][1]),
                key=lambda t: t[0],
            )  # type: ignore[arg-type,return-value]
            row["cryptofeed"] = note
            if el is not None:
                row["cryptofeed_fps"] = round(N / el)
                row["ours_vs_cryptofeed"] = round(ours / (N / el), 2)
        results[kind] = row
        print(
            f"{kind:8s} ours {ours / 1e6:5.2f} M/s   json {base / 1e6:5.2f} M/s   "
            f"ratio {ours / base:4.1f}x",
            end="",
        )
        if "cryptofeed_fps" in row:
            print(
                f"   cryptofeed {row['cryptofeed_fps'] / 1e6:5.2f} M/s   "  # type: ignore[operator]
                f"ratio {row['ours_vs_cryptofeed']}x",
                end="",
            )
        print()
    out = ROOT / "bench" / "results" / "decode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
