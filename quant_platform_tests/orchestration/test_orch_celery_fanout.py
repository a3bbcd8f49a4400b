"""The platform's own jobs fanned out over two real `qp worker` processes (dagster-celery).

Real Redis (broker, results), real TimescaleDB, real worker processes; a worker is
killed with SIGKILL mid-step. Steps are held mid-way by a real table lock (a
resample step blocks on `DELETE FROM ohlcv` while the test holds `LOCK TABLE ohlcv
IN SHARE MODE`), so "mid-step" and "both workers busy" are states the test
observes in pg_stat_activity, not sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    JobDefinition,
    execute_job,
    reconstructable,
)

from quant_platform.analytics.backtest import sweep
from quant_platform.analytics.screener import ScreenConfig, screen_pairs
from quant_platform.config import Settings
from quant_platform.orchestration.backtest.assets import PairBacktestConfig
from quant_platform.queries.backtest import Pair, load_pair_bars
from quant_platform.queries.research import load_bar_window
from quant_platform_tests.orchestration.celery_jobs import (
    HOURS_START,
    backtest_sweep_fanout_on_celery,
    ohlcv_backfill_in_process,
    ohlcv_backfill_on_celery,
    ohlcv_range_in_process,
    ohlcv_resample_on_celery,
    pair_screen_fanout_on_celery,
)
from quant_platform_tests.orchestration.celery_workers import (
    assert_same_to_rounding,
    db_bars,
    lock_waiters,
    step_events,
    wait_for,
    worker_nodes,
)
from quant_platform_tests.orchestration.orch_seed import seed_frame, synthetic_trades
from quant_platform_tests.research.research_seed import seed_universe

KEY_FMT = "%Y-%m-%d-%H:00"


def hour_keys(n: int, offset: int = 0) -> list[str]:
    return [(HOURS_START + timedelta(hours=offset + i)).strftime(KEY_FMT) for i in range(n)]


def backfill_config(keys: list[str], hours_per_step: int = 1) -> dict:
    cfg = {"first": keys[0], "last": keys[-1], "hours_per_step": hours_per_step}
    return {"ops": {"plan_ohlcv_chunks": {"config": cfg}}}


def range_tags(keys: list[str]) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }


@pytest.fixture()
def instance(tmp_path: Path) -> DagsterInstance:
    (tmp_path / "dagster").mkdir()
    return DagsterInstance.local_temp(str(tmp_path / "dagster"))


@pytest.fixture()
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The run process (this test) reads the URLs from the environment, like the workers."""
    monkeypatch.setenv("QP_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("QP_DATABASE_URL", settings.database_url)
    return settings


def in_process_reference(
    db: psycopg.Connection, instance: DagsterInstance, keys: list[str]
) -> tuple[list[tuple], list[tuple]]:
    """Bars of the backfill job on the in-process executor, and of the asset's single run.

    The table is emptied after each. The two agree to float rounding only: the single
    run rolls up 5m/1h bars in one statement over all hours, and PostgreSQL may sum a
    bucket's floats in another order than per-hour statements do.
    """
    start, end = HOURS_START, HOURS_START + timedelta(hours=len(keys))
    out = []
    for fn, kw in (
        (ohlcv_backfill_in_process, {"run_config": backfill_config(keys)}),
        (ohlcv_range_in_process, {"tags": range_tags(keys)}),
    ):
        run_job(instance, fn, **kw)
        out.append(db_bars(db, start, end))
        db.execute("TRUNCATE ohlcv")
        assert db_bars(db, start, end) == []
    return out[0], out[1]


def run_job(instance: DagsterInstance, fn: Callable[[], JobDefinition], **kw) -> str:
    """Execute the job to its end; returns the run id (asserted a success)."""
    with execute_job(reconstructable(fn), instance=instance, raise_on_error=False, **kw) as r:
        assert r.success, [e.message for e in r.all_events if e.is_failure]
        return r.run_id


def latest_run_id(instance: DagsterInstance, job_name: str) -> str | None:
    runs = [r for r in instance.get_runs(limit=20) if r.job_name == job_name]
    return runs[0].run_id if runs else None


def test_six_partition_backfill_on_two_workers_equals_in_process(
    env: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    instance: DagsterInstance,
) -> None:
    """The real backfill job: one step per partition, steps on both workers, same bars."""
    keys = hour_keys(6)
    end = HOURS_START + timedelta(hours=6)
    seed_frame(db, synthetic_trades(("BTCUSDT", "ETHUSDT"), HOURS_START, end, 3000, seed=7))
    reference, single_run = in_process_reference(db, instance, keys)
    assert len(reference) > 6 * 2 * 60
    assert_same_to_rounding(reference, single_run)

    run_id = run_job(instance, ohlcv_backfill_on_celery, run_config=backfill_config(keys))

    done = step_events(instance, run_id, DagsterEventType.STEP_SUCCESS)
    chunk_pids = {pid for _, key, pid in done if key.startswith("resample_ohlcv_chunk[")}
    assert len([k for _, k, _ in done if k.startswith("resample_ohlcv_chunk[")]) == 6
    assert chunk_pids == {p.pid for p in workers}
    assert worker_nodes(instance, run_id) == {f"w{i}@{os.uname().nodename}" for i in range(2)}
    assert_same_to_rounding(db_bars(db, HOURS_START, end), reference)
    materialized = instance.get_materialized_partitions(AssetKey("ohlcv"))
    assert set(keys) <= materialized


def test_worker_killed_mid_step_step_reruns_on_other_worker(
    env: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    instance: DagsterInstance,
) -> None:
    """SIGKILL a worker inside a step: the unacknowledged step runs again on the survivor."""
    keys = hour_keys(6)
    end = HOURS_START + timedelta(hours=6)
    seed_frame(db, synthetic_trades(("BTCUSDT", "ETHUSDT"), HOURS_START, end, 3000, seed=8))
    reference, _ = in_process_reference(db, instance, keys)
    by_pid = {p.pid: p for p in workers}
    with ThreadPoolExecutor(1) as pool, psycopg.connect(env.database_url) as blocker:
        blocker.execute("LOCK TABLE ohlcv IN SHARE MODE")  # every resample step blocks inside
        run: Future[str] = pool.submit(
            run_job, instance, ohlcv_backfill_on_celery, run_config=backfill_config(keys)
        )
        wait_for("both workers blocked mid-step", lambda: lock_waiters(db) >= 2 or run.done())
        run_id = latest_run_id(instance, "ohlcv_backfill_job")
        assert run_id is not None
        started = step_events(instance, run_id, DagsterEventType.STEP_START)
        victim_step, victim_pid = next(
            (k, pid) for _, k, pid in started if k.startswith("resample_ohlcv_chunk[")
        )
        os.kill(victim_pid, signal.SIGKILL)
        by_pid[victim_pid].wait(timeout=30)
        blocker.rollback()  # the lock goes; the survivor's steps proceed
        run_id = run.result(timeout=300)
    survivor = next(pid for pid in by_pid if pid != victim_pid)

    chunk_starts = [
        pid
        for _, k, pid in step_events(instance, run_id, DagsterEventType.STEP_START)
        if k.startswith("resample_ohlcv_chunk[")
    ]
    victim_starts = [
        pid
        for _, k, pid in step_events(instance, run_id, DagsterEventType.STEP_START)
        if k == victim_step
    ]
    assert victim_starts == [victim_pid, survivor]  # started twice: killed, then redelivered
    assert chunk_starts.count(victim_pid) == 1 and len(chunk_starts) == 7
    success = {k: pid for _, k, pid in step_events(instance, run_id, DagsterEventType.STEP_SUCCESS)}
    assert success[victim_step] == survivor
    assert sum(k.startswith("resample_ohlcv_chunk[") for k in success) == 6
    assert_same_to_rounding(db_bars(db, HOURS_START, end), reference)
    assert set(keys) <= instance.get_materialized_partitions(AssetKey("ohlcv"))


def test_resample_step_overtakes_a_queued_backfill(
    env: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    instance: DagsterInstance,
) -> None:
    """Both workers busy, 10 backfill steps queued: the resample step is taken next.

    Workers drain the resample queue before the backfill queue, so the closed-hour
    resample waits for one running step, not for the backfill's queue (a single FIFO
    queue would run it after all twelve).
    """
    keys = hour_keys(12)
    resample_key = hour_keys(1, offset=12)[0]
    end = HOURS_START + timedelta(hours=13)
    seed_frame(db, synthetic_trades(("BTCUSDT", "ETHUSDT"), HOURS_START, end, 2000, seed=9))
    with ThreadPoolExecutor(2) as pool, psycopg.connect(env.database_url) as blocker:
        blocker.execute("LOCK TABLE ohlcv IN SHARE MODE")
        backfill = pool.submit(
            run_job, instance, ohlcv_backfill_on_celery, run_config=backfill_config(keys)
        )
        wait_for("both workers busy with backfill", lambda: lock_waiters(db) >= 2)
        resample = pool.submit(
            run_job,
            instance,
            ohlcv_resample_on_celery,
            tags={"dagster/partition": resample_key, "qp/lane": "resample"},
        )
        wait_for(
            "the resample step submitted",
            lambda: _submitted(instance, "ohlcv_resample_celery") or resample.done(),
        )
        blocker.rollback()
        backfill_id, resample_id = backfill.result(timeout=300), resample.result(timeout=300)

    (r_start, _, r_pid), *_ = step_events(instance, resample_id, DagsterEventType.STEP_START)
    chunk_starts = [
        t
        for t, k, _ in step_events(instance, backfill_id, DagsterEventType.STEP_START)
        if k.startswith("resample_ohlcv_chunk[")
    ]
    assert len(chunk_starts) == 12
    # the two steps already running, and at most one taken in the same instant by the
    # other worker as the lock went; the other nine or more start after the resample
    assert sum(t < r_start for t in chunk_starts) <= 3
    assert r_pid in {p.pid for p in workers}
    hour = HOURS_START + timedelta(hours=12)
    bars = db.execute(
        "SELECT count(*) FROM ohlcv WHERE interval = '1m' AND bucket >= %s", (hour,)
    ).fetchone()
    minutes = db.execute(
        "SELECT count(DISTINCT (symbol, date_trunc('minute', time))) FROM trades WHERE time >= %s",
        (hour,),
    ).fetchone()
    assert bars is not None and minutes is not None and bars[0] == minutes[0] > 60


def _submitted(instance: DagsterInstance, job_name: str) -> bool:
    run_id = latest_run_id(instance, job_name)
    if run_id is None:
        return False
    return any(
        "Submitting celery task" in (e.message or "")
        for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    )


def test_pair_screen_fanout_equals_one_screen(
    env: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    instance: DagsterInstance,
) -> None:
    """The split screen: parts on both workers; the same ranked rows as one whole screen."""
    day = datetime(2026, 9, 20, tzinfo=UTC)
    window_end = day + timedelta(days=1)
    seed_universe(db, end=window_end - timedelta(hours=1))
    cfg = {"day": "2026-09-20", "lookback_days": 1.0, "all_symbols": True, "parts": 4}
    run_id = run_job(
        instance,
        pair_screen_fanout_on_celery,
        run_config={"ops": {"plan_pair_screen": {"config": cfg}}},
    )

    done = step_events(instance, run_id, DagsterEventType.STEP_SUCCESS)
    part_pids = [pid for _, k, pid in done if k.startswith("screen_pair_part[")]
    assert len(part_pids) == 4 and set(part_pids) == {p.pid for p in workers}
    window = load_bar_window(db, None, "1m", timedelta(days=1), window_end)
    whole = screen_pairs(window.log_prices, window.quote_volume, ScreenConfig(min_obs=100))
    expected = [(p.rank, p.symbol_y, p.symbol_x, p.pvalue, p.qvalue) for p in whole.pairs]
    stored = db.execute(
        "SELECT rank, symbol_y, symbol_x, pvalue, qvalue FROM pair_screens"
        " WHERE screen_id = '2026-09-20' ORDER BY rank"
    ).fetchall()
    assert len(expected) == 10  # five symbols, the thin one included (no volume floor)
    assert stored == expected
    assert "2026-09-20" in instance.get_materialized_partitions(AssetKey("pair_screen"))


def test_backtest_sweep_fanout_equals_one_sweep(
    env: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    instance: DagsterInstance,
) -> None:
    """The split sweep: slices on both workers; the merged grid is one in-process `sweep`.

    Exact equality, floats included: a lookback's row depends only on the bars, the
    rule and that lookback, computed by the same numpy code in either process (the
    bars reach the workers pickled, bit for bit).
    """
    end = datetime(2026, 9, 21, tzinfo=UTC)
    start = end - timedelta(minutes=1500)
    seed_universe(db, n=1500, end=end, thin=None)
    lookbacks, entries, exits = [30, 45, 60, 90, 120, 180], [1.0, 1.5, 2.0, 2.5], [0.0, 0.5, 1.0]
    cfg = {
        "pair": "ETHUSDT/BTCUSDT",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "lookbacks": lookbacks,
        "entries": entries,
        "exits": exits,
        "parts": 4,
    }
    with execute_job(
        reconstructable(backtest_sweep_fanout_on_celery),
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"plan_backtest_sweep": {"config": cfg}}},
    ) as r:
        assert r.success, [e.message for e in r.all_events if e.is_failure]
        merged = r.output_for_node("merge_and_store_sweep")
        run_id = r.run_id

    done = step_events(instance, run_id, DagsterEventType.STEP_SUCCESS)
    part_pids = [pid for _, k, pid in done if k.startswith("sweep_lookback_slice[")]
    assert len(part_pids) == 4 and set(part_pids) == {p.pid for p in workers}
    bars = load_pair_bars(db, Pair("ETHUSDT", "BTCUSDT"), "1m", start, end)
    assert bars.time_ms.size == 1500
    whole = sweep(bars, PairBacktestConfig().params(), entries, exits, lookbacks)
    assert whole.n_trades.sum() > 0 and np.isfinite(whole.sharpe).sum() > 20
    for name in ("entries", "exits", "lookbacks", "sharpe", "net_pnl", "n_trades"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name), err_msg=name)
    stem = "sweep_ETHUSDT-BTCUSDT_20260919T2300_20260921T0000"
    stored = pd.read_csv(env.reports_dir / f"{stem}.csv")
    expected = whole.frame()
    assert len(stored) == len(expected) == len(lookbacks) * 11  # exit < entry: 11 of 12 cells
    assert (stored["n_trades"] == expected["n_trades"]).all()
    # a CSV round-trips float64 exactly (pandas writes the shortest repr that reads back)
    pd.testing.assert_frame_equal(stored, expected, check_exact=True)
