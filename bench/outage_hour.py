"""A network outage of --minutes, end to end: does it end with no hole?

Run: .venv/bin/python bench/outage_hour.py [--minutes 60] [--rest-down-minutes 30]
     [--rate 80] [--stream aggTrade] [--json out.json]

The simulator publishes `--rate` trades/s (across 4 symbols) the whole time.
The daemon is a real `qp ingest` process under `qp up`'s own supervisor (the
same ProcessSpec and RestartPolicy), reaching the simulator through two
`NetworkCut` forwarders, one for the WebSocket URL and one for REST. After
`--before-s` of streaming, both are cut: every connection aborted, new ones
refused. REST comes back after `--rest-down-minutes`, the WebSocket after
`--minutes`. Meanwhile the daemon exhausts QP_MAX_CONSECUTIVE_FAILURES, exits
75 (EX_TEMPFAIL) and is restarted by the supervisor, again and again; each
start resumes from the newest stored ids. After the WebSocket is back the run
streams `--after-s` more, the simulator halts (so "published" is final), and
the script waits until the store holds everything (or `--settle-timeout`).

With `--stream trade --api-key K` the simulator wants K for historicalTrades
and the daemon has it, so an hour of @trade comes back as trades; without a
key the older part comes back as aggTrade rows.

Checked: stored == published per symbol (aggTrade: every aggTrade id once;
trade: every trade id once, from a trade row or inside a stored aggTrade's
`f..l` when it was filled by the aggTrade fallback), no duplicate rows, and
the daemons' own counters (summed over every process life, from their exit
lines) saying what was backfilled. Prints one JSON document; exit 0 when there
is no hole and no duplicate, 1 otherwise. Creates and drops its own
`qp_bench_<hex>` database (--pg names the server).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import redis

from quant_platform.cli.up_cmd import ingest_specs
from quant_platform.services.local import free_port
from quant_platform.services.supervisor import Supervisor
from quant_platform.simulator.network_cut import NetworkCut
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.migrate import migrate

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
STOPPED = re.compile(r"ingestion daemon stopped \(exit (\d+)\): (\{.*\})")


class Venue:
    """The simulator and its two cuttable forwarders on an event loop thread of their own."""

    def __init__(self, rate: float, seed: int, api_key: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        keys = frozenset({api_key}) if api_key else None
        self.sim = ExchangeSimulator(SYMBOLS, rate=rate, seed=seed, api_keys=keys)
        self.ws = NetworkCut("127.0.0.1", 0)
        self.rest = NetworkCut("127.0.0.1", 0)

    def call(self, fn, timeout: float = 60.0):  # noqa: ANN001, ANN201
        """Run coroutine function `fn` on the venue's loop; its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.call(self.sim.start)
        for cut in (self.ws, self.rest):
            cut.upstream = ("127.0.0.1", self.sim.port)
            self.call(cut.start)

    def published(self, kind: str) -> dict[str, list[int]]:
        """Ids the venue published so far, per symbol (read on its own loop)."""

        async def read() -> dict[str, list[int]]:
            if kind == "aggTrade":
                return {s: [a.agg_id for a in self.sim.agg_history(s)] for s in SYMBOLS}
            return {s: [f.trade_id for f in self.sim.history(s)] for s in SYMBOLS}

        return self.call(read)

    def agg_ranges(self) -> dict[tuple[str, int], tuple[int, int]]:
        async def read() -> dict[tuple[str, int], tuple[int, int]]:
            return {
                (s, a.agg_id): (a.first_id, a.last_id)
                for s in SYMBOLS
                for a in self.sim.agg_history(s)
            }

        return self.call(read)

    def stop(self) -> None:
        for cut in (self.ws, self.rest):
            self.call(cut.stop)
        self.call(self.sim.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def health(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return None


def wait_for(pred, timeout: float, what: str, every: float = 0.5) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def stored_rows(db_url: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(db_url) as conn:
        return [
            (s, k, int(t)) for s, k, t in conn.execute("SELECT symbol, kind, trade_id FROM trades")
        ]


def compare(
    kind: str,
    published: dict[str, list[int]],
    rows: list[tuple[str, str, int]],
    agg_ranges: dict[tuple[str, int], tuple[int, int]],
) -> dict:
    """Every published id of `kind` covered exactly once? Missing and doubled ids, per kind."""
    dup_rows = sum(n - 1 for n in Counter(rows).values() if n > 1)
    covered: Counter[tuple[str, int]] = Counter()
    via_agg = 0
    for symbol, k, tid in set(rows):
        if k == kind:
            covered[(symbol, tid)] += 1
        elif kind == "trade" and k == "aggTrade":
            f, last = agg_ranges[(symbol, tid)]
            for t in range(f, last + 1):
                covered[(symbol, t)] += 1
            via_agg += last - f + 1
    want = {(s, i) for s, ids in published.items() for i in ids}
    missing = len(want - covered.keys())
    doubled = sum(1 for key, n in covered.items() if n > 1)
    extra = len(covered.keys() - want)
    return {
        "published": len(want),
        "stored_rows": len(rows),
        "duplicate_rows": dup_rows,
        "missing_ids": missing,
        "ids_stored_twice": doubled,
        "ids_not_published": extra,
        "trade_ids_via_aggTrade_rows": via_agg,
        "exact": missing == 0 and doubled == 0 and extra == 0 and dup_rows == 0,
    }


def daemon_lives(log_text: str) -> list[dict]:
    """Each daemon process's exit code and final counters, from its "stopped" line."""
    lives = []
    for m in STOPPED.finditer(log_text):
        counts = ast.literal_eval(m.group(2))
        lives.append({"exit": int(m.group(1)), **counts})
    return lives


class Drill:
    """The timeline, run on a thread while the supervisor owns the main thread."""

    def __init__(self, args: argparse.Namespace, venue: Venue, db_url: str, port: int) -> None:
        self.args = args
        self.venue = venue
        self.db_url = db_url
        self.port = port
        self.result: dict = {}
        self.error: BaseException | None = None
        self.marks: dict[str, float] = {}

    def _mark(self, name: str, t0: float) -> None:
        self.marks[name] = round(time.monotonic() - t0, 1)
        print(f"[outage] {self.marks[name]:8.1f} s  {name}", file=sys.stderr, flush=True)

    def run(self) -> None:
        time.sleep(1.0)  # the supervisor's SIGTERM handler is installed by then
        try:
            self._timeline()
        except BaseException as exc:  # noqa: BLE001 - reported in the result
            self.error = exc
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the supervisor stops the daemon, returns

    def _streaming(self) -> bool:
        h = health(self.port)
        return bool(h and h["connections"] >= 1 and h["counts"]["accepted"] > 0)

    def _timeline(self) -> None:
        a, v = self.args, self.venue
        t0 = time.monotonic()
        wait_for(self._streaming, 180, "daemon streaming before the outage")
        self._mark("daemon streaming", t0)
        time.sleep(a.before_s)
        before = sum(len(x) for x in v.published(a.stream).values())
        v.call(v.ws.cut)
        v.call(v.rest.cut)
        self._mark(f"network cut (WebSocket and REST); {before} published so far", t0)
        cut_at = time.monotonic()
        rest_down = min(a.rest_down_minutes, a.minutes) * 60
        time.sleep(rest_down)
        v.call(v.rest.restore)
        self._mark("REST restored", t0)
        time.sleep(max(0.0, a.minutes * 60 - (time.monotonic() - cut_at)))
        during = sum(len(x) for x in v.published(a.stream).values()) - before
        v.call(v.ws.restore)
        self._mark(f"WebSocket restored; {during} published during the outage", t0)
        wait_for(self._streaming, 600, "daemon streaming after the outage")
        self._mark("daemon streaming again", t0)
        time.sleep(a.after_s)
        v.call(v.sim.halt)
        published = v.published(a.stream)
        self._mark("simulator halted: published is final", t0)
        ranges = v.agg_ranges() if a.stream == "trade" else {}
        check: dict = {}
        h: dict = {}
        idle_same = 0  # idle polls in a row with the same row count: nothing more comes
        last_rows = -1
        deadline = time.monotonic() + a.settle_timeout
        while time.monotonic() < deadline and idle_same < 5:
            h = health(self.port) or {}
            if h.get("backfill_queue", 1) == 0 and h.get("pending_rows", 1) == 0:
                check = compare(a.stream, published, stored_rows(self.db_url), ranges)
                if check["exact"]:
                    break
                idle_same = idle_same + 1 if check["stored_rows"] == last_rows else 0
                last_rows = check["stored_rows"]
            time.sleep(2.0)
        if not check:
            check = compare(a.stream, published, stored_rows(self.db_url), ranges)
        self._mark("settled" if check.get("exact") else "settled with a difference", t0)
        self.result = {
            "check": check,
            "published_during_outage": during,
            "final_health": {k: h.get(k) for k in ("counts", "backfill_queue", "ok", "problems")},
        }


def daemon_env(args: argparse.Namespace, venue: Venue, db_url: str, port: int, data: Path) -> dict:
    env = {
        "QP_DATABASE_URL": db_url,
        "QP_REDIS_URL": args.redis,
        "QP_REDIS_PREFIX": args.prefix,
        "QP_DATA_DIR": str(data),
        "QP_FEED_URL": f"ws://127.0.0.1:{venue.ws.port}",
        "QP_REST_URL": f"http://127.0.0.1:{venue.rest.port}",
        "QP_METRICS_PORT": str(port),
        "QP_STREAM": args.stream,
        "QP_SYMBOLS": ",".join(SYMBOLS),
        "PYTHONUNBUFFERED": "1",
    }
    if args.api_key:
        env["QP_BINANCE_API_KEY"] = args.api_key
    for item in args.daemon_env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def run(args: argparse.Namespace) -> dict:
    name = f"qp_bench_{uuid.uuid4().hex[:10]}"
    args.prefix = f"qpoutage{uuid.uuid4().hex[:6]}:"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"{args.pg}/{name}"
    data = Path(tempfile.mkdtemp(prefix="qp-outage-"))
    venue = Venue(args.rate, args.seed, args.api_key)
    try:
        migrate(db_url)
        venue.start()
        port = args.metrics_port or free_port()
        env = daemon_env(args, venue, db_url, port, data)
        qp = str(Path(sys.executable).parent / "qp")
        specs = ingest_specs(qp, env, "simulator", 1, port)
        sup = Supervisor(specs, data / "logs")
        drill = Drill(args, venue, db_url, port)
        threading.Thread(target=drill.run, daemon=True).start()
        sup.run()  # until the drill sends SIGTERM; stops the daemon (it flushes) then
        log_text = (data / "logs" / "ingest.log").read_text(errors="replace")
        lives = daemon_lives(log_text)
        totals: Counter[str] = Counter()
        for life in lives:
            totals.update({k: v for k, v in life.items() if k != "exit" and isinstance(v, int)})
        result = {
            "minutes": args.minutes,
            "rest_down_minutes": min(args.rest_down_minutes, args.minutes),
            "rate_trades_per_s": args.rate,
            "stream": args.stream,
            "symbols": list(SYMBOLS),
            **drill.result,
            "timeline_s": drill.marks,
            "daemon_starts": log_text.count("ingestion daemon: "),
            "resumes": log_text.count("after the newest stored ids"),
            "exit_codes": [life["exit"] for life in lives],
            "supervisor_restarts": sup.children[0].restarts,
            "counters_summed_over_lives": {
                k: totals[k]
                for k in (
                    "backfilled",
                    "backfilled_via_agg",
                    "backfilled_historical",
                    "unrecovered",
                    "gap_trades",
                )
            },
            "error": repr(drill.error) if drill.error else None,
            "api_key_in_daemon_log": bool(args.api_key) and args.api_key in log_text,
        }
        if drill.error is not None or not result.get("check", {}).get("exact"):
            result["log_tail"] = log_text[-4000:]
        return result
    finally:
        venue.stop()
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        r = redis.Redis.from_url(args.redis)
        keys = list(r.scan_iter(match=f"{args.prefix}*", count=1000))
        if keys:
            r.delete(*keys)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="WebSocket outage length")
    ap.add_argument(
        "--rest-down-minutes", type=float, default=30.0, help="REST down for this first part"
    )
    ap.add_argument("--rate", type=float, default=80.0, help="trades/s across the 4 symbols")
    ap.add_argument("--stream", choices=("trade", "aggTrade"), default="aggTrade")
    ap.add_argument("--before-s", type=float, default=30.0)
    ap.add_argument("--after-s", type=float, default=30.0)
    ap.add_argument("--settle-timeout", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=61)
    ap.add_argument("--metrics-port", type=int, default=0)
    ap.add_argument(
        "--pg", default=os.environ.get("QP_BENCH_PG", "postgresql://qp@127.0.0.1:55432")
    )
    ap.add_argument(
        "--redis", default=os.environ.get("QP_BENCH_REDIS", "redis://127.0.0.1:56379/0")
    )
    ap.add_argument(
        "--daemon-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra QP_* settings for the daemon (e.g. QP_MAX_CONSECUTIVE_FAILURES=3)",
    )
    ap.add_argument(
        "--api-key",
        help="the simulator wants this key for historicalTrades and the daemon has it "
        "(QP_BINANCE_API_KEY): @trade gaps come back as trades",
    )
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--keep", action="store_true", help="keep the data dir (daemon logs)")
    return ap.parse_args(argv)


if __name__ == "__main__":
    a = parse_args()
    out = run(a)
    text = json.dumps(out, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    sys.exit(0 if out.get("check", {}).get("exact") and not out.get("error") else 1)
