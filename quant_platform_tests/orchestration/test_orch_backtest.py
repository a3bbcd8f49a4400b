"""`pair_backtest` materialised for one day x pair against seeded bars and funding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from dagster import (
    DagsterInstance,
    DagsterInvalidConfigError,
    MultiPartitionKey,
    in_process_executor,
    materialize,
)

from quant_platform.analytics.backtest import (
    BacktestParams,
    FundingSeries,
    PairBars,
    compute_signal,
    simulate,
)
from quant_platform.orchestration.backtest import BACKTEST_PARTITIONS, pair_backtest
from quant_platform.orchestration.backtest.sweep_fanout import build_backtest_sweep_fanout_job
from quant_platform_tests.pair_seed import START_MS, pair_closes, seed_pair


def test_pair_backtest_partition_equals_the_library_on_the_same_day(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    seed_pair(db, n=2880, y="BTCUSDT", x="ETHUSDT")  # 2026-11-01 and -02, 1m bars
    key = MultiPartitionKey({"date": "2026-11-02", "pair": "BTCUSDT-ETHUSDT"})
    assert key in BACKTEST_PARTITIONS.get_partition_keys(dynamic_partitions_store=instance)
    config = {"ops": {"pair_backtest": {"config": {"entry": 1.8, "exit": 0.3, "lookback": 60}}}}
    result = materialize(
        [pair_backtest],
        partition_key=key,
        resources=resources,
        instance=instance,
        run_config=config,
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata

    # the library on the same closes: signal from all bars, trading from day 2's first bar
    cy, cx = pair_closes(2880)
    t = START_MS + 60_000 * (np.arange(2880) + 1)
    ft = START_MS + 8 * 3_600_000 * np.arange(7)
    bars = PairBars(
        t,
        cy,
        cx,
        np.full(2880, 40.0),
        np.full(2880, 2.0),
        FundingSeries(ft, np.array([1e-4 * (1 + k % 3) for k in range(7)])),
        FundingSeries(ft, np.array([-5e-5 * (1 + k % 2) for k in range(7)])),
    ).checked()
    p = BacktestParams(entry=1.8, exit=0.3, lookback=60, slippage_bps=1.0)
    sig = compute_signal(bars, p)
    ref = simulate(bars.slice(1440, 2880), sig.slice(1440, 2880), p).metrics
    assert meta["n_trades"].value == ref.n_trades > 5
    assert meta["net_pnl"].value == pytest.approx(ref.net_pnl, abs=1e-6)
    assert meta["funding"].value == pytest.approx(ref.funding, abs=1e-9)
    assert meta["fees"].value == pytest.approx(ref.fees)
    assert "| funding cost |" in meta["summary"].value
    assert meta["equity"].value.startswith("![equity](data:image/svg+xml;base64,")
    trades = pd.read_csv(Path(meta["trades_csv"].value))
    assert len(trades) == ref.n_trades
    assert (pd.to_datetime(trades["entry_time"]) >= pd.Timestamp("2026-11-02", tz="UTC")).all()


def test_pair_backtest_day_without_bars_says_so(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    key = MultiPartitionKey({"date": "2026-10-01", "pair": "BTCUSDT-ETHUSDT"})
    result = materialize([pair_backtest], partition_key=key, resources=resources, instance=instance)
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["status"].value.startswith("no 1m bars for BTCUSDT/ETHUSDT between 2026-10-01")
    assert meta["n_trades"].value == 0


FAILURE = "dagster._core.definitions.events.Failure"


def test_sweep_job_config_has_only_the_grid_and_names_a_bad_knob(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    """The sweep's Launchpad shows no single entry/exit/lookback the grid would ignore,
    and a bad shared knob fails the plan step with the key's name, before any slice."""
    job = build_backtest_sweep_fanout_job(in_process_executor, resources)
    span = {"pair": "BTCUSDT/ETHUSDT", "start": "2026-11-01", "end": "2026-11-02"}
    snaps = job.get_config_schema_snapshot().all_config_snaps_by_key.values()
    names = [{f.name for f in s.fields or ()} for s in snaps]
    assert any({"entries", "exits", "lookbacks", "notional"} <= n for n in names)
    assert not any({"entry", "exit", "lookback"} & n for n in names)
    with pytest.raises(DagsterInvalidConfigError, match="entry"):
        job.execute_in_process(
            run_config={"ops": {"plan_backtest_sweep": {"config": {**span, "entry": 2.0}}}},
            instance=instance,
        )
    for bad, says in [
        ({"notional": -1.0}, "notional: must be > 0 USDT, got -1.0"),
        ({"start": "yesterday"}, "start: 'yesterday' is not an ISO time"),
        ({}, "no 1m bars for BTCUSDT/ETHUSDT between 2026-11-01"),  # nothing seeded
    ]:
        r = job.execute_in_process(
            run_config={"ops": {"plan_backtest_sweep": {"config": {**span, **bad}}}},
            instance=instance,
            raise_on_error=False,
        )
        failures = [e for e in r.all_events if e.is_step_failure]
        assert not r.success and [e.step_key for e in failures] == ["plan_backtest_sweep"]
        error = failures[0].step_failure_data.error
        assert error.cls_name == "Failure"
        assert error.message.startswith(f"{FAILURE}: backtest sweep not started: {says}")
