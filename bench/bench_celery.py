"""Dagster steps on Celery workers: 1 worker vs 2, same jobs, same data, same run.

Two jobs of the platform, each run with one `qp worker` and then with two (solo
pool: one step at a time per worker process), on a database of the bench's own:

* `ohlcv_backfill_job`: 24 hourly partitions (`--rows` synthetic trades over the
  day, 4 symbols), one step per partition. Context: the `ohlcv` asset's own
  single-run backfill of the same 24 hours in-process (one SQL statement).
* `pair_screen_fanout_job`: the pair screen of `--symbols` symbols over
  `--days` days of 1m bars, split into `--parts` steps (CPU-bound: two ADF
  regressions, Johansen, Hurst per pair). Context: `screen_pairs` on the same
  window in this process (CPU seconds).
* `backtest_sweep_fanout_job`: one pair's sweep over `--sweep-days` days of 1m
  bars, `--sweep-lookbacks` lookbacks x `--sweep-grid` entries x
  `--sweep-grid` exits, split into `--sweep-parts` slices of lookbacks
  (CPU-bound; the planning step loads two symbols' bars, the merge stacks small
  arrays). Context: `sweep` on the same bars in this process (CPU seconds).

Wall time from launch to the run's end, taken by this process (the run process:
it submits steps to Redis and polls results, as the daemon's run worker would).
Workers are started fresh per phase and warmed with a 2-partition backfill, so
code loading is not timed. Target: 2 workers >= 1.6x faster than 1 on a CPU-bound
job (the screen or the sweep), whole job.
The load average is recorded before and after each timed run: the reference
box's 2 cores are shared, and 2 workers cannot run faster than 2 free cores.

    .venv/bin/python bench/bench_celery.py
    .venv/bin/python bench/bench_celery.py --symbols 40 --days 7 --parts 8
    .venv/bin/python bench/bench_celery.py --jobs sweep --out bench/results/celery_sweep.json
"""

from __future__ import annotations

import os

# Before any quant_platform import: settings are read once per process, and the
# workers load this file as the jobs' code, inheriting these variables.
os.environ.setdefault("QP_BENCH_CELERY_DB", f"qp_bench_celery_{os.getpid()}")
ADMIN = os.environ.get("QP_BENCH_ADMIN_URL", "postgresql://qp@127.0.0.1:55432/postgres")
os.environ["QP_DATABASE_URL"] = ADMIN.rsplit("/", 1)[0] + "/" + os.environ["QP_BENCH_CELERY_DB"]
os.environ.setdefault("QP_REDIS_URL", "redis://127.0.0.1:56379/0")
os.environ.setdefault("QP_REDIS_PREFIX", f"qpbench{os.getpid()}:")
os.environ.setdefault("QP_PARTITIONS_START", "2026-03-01")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from dagster import (  # noqa: E402
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EnvVar,
    JobDefinition,
    define_asset_job,
    execute_job,
    in_process_executor,
    reconstructable,
)
from psycopg import sql  # noqa: E402

from quant_platform.analytics.backtest import sweep  # noqa: E402
from quant_platform.analytics.screener import ScreenConfig, screen_pairs  # noqa: E402
from quant_platform.config import get_settings  # noqa: E402
from quant_platform.orchestration.backtest.assets import PairBacktestConfig  # noqa: E402
from quant_platform.orchestration.backtest.sweep_fanout import (  # noqa: E402
    build_backtest_sweep_fanout_job,
)
from quant_platform.orchestration.celery.executor import qp_celery_executor  # noqa: E402
from quant_platform.orchestration.ohlcv.assets import ohlcv  # noqa: E402
from quant_platform.orchestration.ohlcv.backfill import build_ohlcv_backfill_job  # noqa: E402
from quant_platform.orchestration.resources import (  # noqa: E402
    PlatformSettingsResource,
    TimescaleResource,
)
from quant_platform.orchestration.screener.fanout import (  # noqa: E402
    build_pair_screen_fanout_job,
)
from quant_platform.queries.backtest import Pair, load_pair_bars  # noqa: E402
from quant_platform.queries.research import load_bar_window  # noqa: E402
from quant_platform.storage.migrate import migrate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "celery.json"
PREFIX = os.environ["QP_REDIS_PREFIX"]
DAY = datetime(2026, 3, 2, tzinfo=UTC)
SCREEN_DAY = "2026-03-20"
# the sweep's pair, S900USDT/S901USDT, over days no other job reads or deletes
SWEEP_END = datetime(2026, 5, 1, tzinfo=UTC)
KEY_FMT = "%Y-%m-%d-%H:00"
SEED_TRADES_SQL = """
INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time, receive_time)
SELECT %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day',
       (ARRAY['BTCUSDT','ETHUSDT','BNBUSDT','SOLUSDT'])[1 + g %% 4], g,
       (ARRAY[60000,3000,600,150])[1 + g %% 4] * (1 + 0.01 * sin(g / 50000.0)) + random(),
       random() + 0.001, random() < 0.5,
       %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day',
       %(day)s::timestamptz + (g::float8 / %(n)s) * interval '1 day'
FROM generate_series(0, %(n)s - 1) AS g
"""


def _timescale() -> TimescaleResource:
    return TimescaleResource(database_url=EnvVar("QP_DATABASE_URL"))


def backfill_on_celery() -> JobDefinition:
    return build_ohlcv_backfill_job(qp_celery_executor(PREFIX), {"timescale": _timescale()})


def screen_on_celery() -> JobDefinition:
    platform = PlatformSettingsResource.from_settings(get_settings())
    return build_pair_screen_fanout_job(
        qp_celery_executor(PREFIX), {"timescale": _timescale(), "platform": platform}
    )


def sweep_on_celery() -> JobDefinition:
    platform = PlatformSettingsResource.from_settings(get_settings())
    return build_backtest_sweep_fanout_job(
        qp_celery_executor(PREFIX), {"timescale": _timescale(), "platform": platform}
    )


def single_run_in_process() -> JobDefinition:
    defs = Definitions(
        assets=[ohlcv],
        jobs=[define_asset_job("ohlcv_range", [ohlcv], executor_def=in_process_executor)],
        resources={"timescale": _timescale()},
    )
    return defs.resolve_job_def("ohlcv_range")


def seed_bars(
    conn: psycopg.Connection, n_symbols: int, days: float, end: datetime, first: int = 0
) -> int:
    """1m bars of `n_symbols` random walks sharing a market factor, ending at `end`,
    named S<first>USDT, S<first + 1>USDT, ..."""
    rng = np.random.default_rng(3 + first)
    n = int(days * 1440)
    market = np.cumsum(rng.normal(0, 5e-4, n))
    times = [end - timedelta(minutes=n - i) for i in range(n)]
    with conn.cursor().copy(
        "COPY ohlcv (bucket, symbol, interval, open, high, low, close, volume, quote_volume,"
        " vwap, trade_count, buy_volume) FROM STDIN"
    ) as cp:
        for s in range(first, first + n_symbols):
            close = np.exp(3 + 0.8 * market + np.cumsum(rng.normal(0, 8e-4, n)))
            for t, c in zip(times, close, strict=True):
                cp.write_row((t, f"S{s:03d}USDT", "1m", c, c, c, c, 1.0, c, c, 1, 0.5))
    conn.commit()
    return n_symbols * n


def start_workers(n: int, log_dir: Path) -> list[subprocess.Popen]:
    """`n` solo workers; returns once each has logged that it is ready."""
    qp = str(Path(sys.executable).parent / "qp")
    procs = []
    for i in range(n):
        log = log_dir / f"worker{n}_{i}.log"
        procs.append(
            subprocess.Popen(
                [qp, "worker", "--name", f"bench{i}@%h", "--log-level", "INFO"],
                cwd=ROOT,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    deadline = time.monotonic() + 120
    for i in range(n):
        log = log_dir / f"worker{n}_{i}.log"
        while " ready." not in log.read_text():
            if time.monotonic() > deadline or procs[i].poll() is not None:
                stop_workers(procs)  # none left behind
                raise RuntimeError(f"worker {i} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def timed(instance: DagsterInstance, fn: Callable[[], JobDefinition], **kw) -> float:
    """Wall seconds of one run of `fn`'s job, launch to end.

    Raises:
        RuntimeError: the run failed.
    """
    return timed_run(instance, fn, **kw)[0]


def timed_run(
    instance: DagsterInstance, fn: Callable[[], JobDefinition], **kw
) -> tuple[float, str]:
    """Wall seconds of one run and its id.

    Raises:
        RuntimeError: the run failed.
    """
    t = time.perf_counter()
    with execute_job(reconstructable(fn), instance=instance, raise_on_error=False, **kw) as r:
        if not r.success:
            raise RuntimeError(f"{r.job_def.name} failed")
        run_id = r.run_id
    return time.perf_counter() - t, run_id


def fanout_span(instance: DagsterInstance, run_id: str, prefix: str) -> dict[str, float]:
    """From the step events: the fanned-out steps' span (first start to last success),
    their summed step time, and the whole run's span."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for kind, into in (
        (DagsterEventType.STEP_START, starts),
        (DagsterEventType.STEP_SUCCESS, ends),
    ):
        for e in instance.all_logs(run_id, of_type=kind):
            into.setdefault(str(e.step_key), e.timestamp)
    keys = [k for k in ends if k.startswith(prefix)]
    return {
        "fanout_span_s": round(max(ends[k] for k in keys) - min(starts[k] for k in keys), 2),
        "fanout_step_sum_s": round(sum(ends[k] - starts[k] for k in keys), 2),
        "steps_span_s": round(max(ends.values()) - min(starts.values()), 2),
    }


def backfill_config(hours: int, offset: int = 0) -> dict:
    first = (DAY + timedelta(hours=offset)).strftime(KEY_FMT)
    last = (DAY + timedelta(hours=offset + hours - 1)).strftime(KEY_FMT)
    return {"ops": {"plan_ohlcv_chunks": {"config": {"first": first, "last": last}}}}


def load() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass(frozen=True)
class TimedJob:
    """One fan-out job timed in every phase: `name` keys its figures in the results."""

    name: str
    job: Callable[[], JobDefinition]
    run_config: dict
    fanout_prefix: str  # step keys of the fanned-out steps
    before: Callable[[], None] | None = None  # resets state before each timed run


def phase(
    n: int, instance: DagsterInstance, jobs: list[TimedJob], log_dir: Path
) -> dict[str, object]:
    """Each job once with `n` workers (fresh, warmed), the load average before each."""
    procs = start_workers(n, log_dir)
    out: dict[str, object] = {"workers": n}
    try:
        timed(instance, backfill_on_celery, run_config=backfill_config(2))  # warm-up
        for j in jobs:
            if j.before is not None:
                j.before()
            out[f"load_before_{j.name}"] = load()
            wall, run_id = timed_run(instance, j.job, run_config=j.run_config)
            out[f"{j.name}_s"] = round(wall, 2)
            out[f"{j.name}_steps"] = fanout_span(instance, run_id, j.fanout_prefix)
        out["load_after"] = load()
    finally:
        stop_workers(procs)
    return out


def speedups(one: dict, two: dict, jobs: list[TimedJob]) -> dict[str, float]:
    """Per job: 1-worker over 2-worker wall time (whole job) and fanned-out span."""
    out = {}
    for j in jobs:
        out[f"{j.name}_speedup_2_vs_1"] = round(one[f"{j.name}_s"] / two[f"{j.name}_s"], 2)
        span = "fanout_span_s"
        out[f"{j.name}_fanout_span_speedup_2_vs_1"] = round(
            one[f"{j.name}_steps"][span] / two[f"{j.name}_steps"][span], 2
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--jobs", default="backfill,screen,sweep", help="comma list of backfill, screen, sweep"
    )
    ap.add_argument("--rows", type=int, default=2_400_000, help="trades over the 24 hours")
    ap.add_argument("--symbols", type=int, default=100, help="screen universe size")
    ap.add_argument("--days", type=float, default=3.0, help="screen lookback of 1m bars")
    ap.add_argument("--parts", type=int, default=4, help="screen steps")
    ap.add_argument("--sweep-days", type=float, default=30.0, help="sweep span of 1m bars")
    ap.add_argument("--sweep-lookbacks", type=int, default=128, help="lookbacks 30, 60, ...")
    ap.add_argument("--sweep-grid", type=int, default=28, help="entries and exits each")
    ap.add_argument("--sweep-parts", type=int, default=8, help="sweep steps")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON ({RESULTS.name})")
    args = ap.parse_args()
    name = os.environ["QP_BENCH_CELERY_DB"]
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = os.environ["QP_DATABASE_URL"]
    try:
        migrate(url)
        result = run(url, args)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def setup_backfill(
    conn: psycopg.Connection, instance: DagsterInstance, args: argparse.Namespace
) -> tuple[TimedJob, dict[str, object]]:
    """Seed the day's trades; time the asset's single-run backfill in-process as context."""
    conn.execute(SEED_TRADES_SQL, {"day": DAY, "n": args.rows})
    conn.commit()
    conn.execute("ANALYZE trades")
    conn.commit()
    single_s = timed(
        instance,
        single_run_in_process,
        tags={
            "dagster/asset_partition_range_start": DAY.strftime(KEY_FMT),
            "dagster/asset_partition_range_end": (DAY + timedelta(hours=23)).strftime(KEY_FMT),
        },
    )
    conn.execute("DELETE FROM ohlcv WHERE bucket < %s", (DAY + timedelta(days=2),))
    conn.commit()

    def clear_day() -> None:  # the warm-up wrote two of the hours
        conn.execute(
            "DELETE FROM ohlcv WHERE bucket >= %s AND bucket < %s", (DAY, DAY + timedelta(days=1))
        )
        conn.commit()

    job = TimedJob(
        "backfill_24h",
        backfill_on_celery,
        backfill_config(24),
        "resample_ohlcv_chunk[",
        clear_day,
    )
    return job, {"trades": args.rows, "in_process_single_run_backfill_24h_s": round(single_s, 2)}


def setup_screen(
    conn: psycopg.Connection, instance: DagsterInstance, args: argparse.Namespace
) -> tuple[TimedJob, dict[str, object]]:
    """Seed the universe's bars; time `screen_pairs` on the window in this process."""
    screen_end = datetime.strptime(SCREEN_DAY, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    bars = seed_bars(conn, args.symbols, args.days, screen_end)
    window = load_bar_window(conn, None, "1m", timedelta(days=args.days), screen_end)
    t = time.process_time()
    whole = screen_pairs(window.log_prices, window.quote_volume, ScreenConfig())
    screen_cpu = time.process_time() - t
    cfg = {"day": SCREEN_DAY, "lookback_days": args.days, "all_symbols": True, "parts": args.parts}
    job = TimedJob(
        "screen",
        screen_on_celery,
        {"ops": {"plan_pair_screen": {"config": cfg}}},
        "screen_pair_part[",
    )
    return job, {
        "screen_symbols": args.symbols,
        "screen_pairs": len(whole.pairs),
        "screen_bars": bars,
        "screen_parts": args.parts,
        "in_process_screen_cpu_s": round(screen_cpu, 2),
    }


def setup_sweep(
    conn: psycopg.Connection, instance: DagsterInstance, args: argparse.Namespace
) -> tuple[TimedJob, dict[str, object]]:
    """Seed the pair's bars; time `sweep` over the same grid in this process."""
    start = SWEEP_END - timedelta(days=args.sweep_days)
    seed_bars(conn, 2, args.sweep_days, SWEEP_END, first=900)
    g = args.sweep_grid
    lookbacks = [30 * (i + 1) for i in range(args.sweep_lookbacks)]
    entries = [round(1.0 + 2.0 * i / max(g - 1, 1), 4) for i in range(g)]
    exits = [round(0.95 * i / max(g - 1, 1), 4) for i in range(g)]
    bars = load_pair_bars(conn, Pair("S900USDT", "S901USDT"), "1m", start, SWEEP_END)
    t = time.process_time()
    whole = sweep(bars, PairBacktestConfig().params(), entries, exits, lookbacks)
    sweep_cpu = time.process_time() - t
    cfg = {
        "pair": "S900USDT/S901USDT",
        "start": start.isoformat(),
        "end": SWEEP_END.isoformat(),
        "lookbacks": lookbacks,
        "entries": entries,
        "exits": exits,
        "parts": args.sweep_parts,
    }
    job = TimedJob(
        "sweep",
        sweep_on_celery,
        {"ops": {"plan_backtest_sweep": {"config": cfg}}},
        "sweep_lookback_slice[",
    )
    return job, {
        "sweep_bars": int(bars.time_ms.size),
        "sweep_cells": int(np.isfinite(whole.net_pnl).sum()),
        "sweep_grid": f"{len(lookbacks)} lookbacks x {g} entries x {g} exits",
        "sweep_parts": args.sweep_parts,
        "sweep_trades": int(whole.n_trades.sum()),
        "in_process_sweep_cpu_s": round(sweep_cpu, 2),
    }


SETUPS = {"backfill": setup_backfill, "screen": setup_screen, "sweep": setup_sweep}


def run(url: str, args: argparse.Namespace) -> dict[str, object]:
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    unknown = set(names) - set(SETUPS)
    if unknown:
        raise SystemExit(f"--jobs: unknown {sorted(unknown)}; use {sorted(SETUPS)}")
    result: dict[str, object] = {"jobs": names, "cpu_count": os.cpu_count()}
    with psycopg.connect(url) as conn, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dagster").mkdir()
        instance = DagsterInstance.local_temp(str(Path(tmp) / "dagster"))
        os.environ["QP_DATA_DIR"] = str(Path(tmp) / "qp")  # the workers' report CSVs
        result["load_at_start"] = load()
        jobs = []
        for n in names:
            job, context = SETUPS[n](conn, instance, args)
            jobs.append(job)
            result.update(context)
        phases = [phase(n, instance, jobs, Path(tmp)) for n in (1, 2)]
    result["phases"] = phases
    result.update(speedups(*phases, jobs))
    result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


if __name__ == "__main__":
    raise SystemExit(main())
