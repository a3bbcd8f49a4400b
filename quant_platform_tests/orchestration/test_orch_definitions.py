"""The code location loads, and every job, schedule and sensor resolves."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, Definitions, QueuedRunCoordinator
from psycopg import sql

from quant_platform.definitions import defs

ORCH = Path(__file__).resolve().parents[2] / "quant_platform" / "orchestration"

JOBS = {
    "ohlcv_resample_job",
    "pair_statistics_job",
    "daily_report_job",
    "retention_job",
    "quality_checks_job",
    "alert_record_job",
    "alert_dispatch_job",
    "pair_screen_job",
    "pair_backtest_job",
}
SCHEDULES = {
    "pair_statistics_every_5_min",
    "daily_report_after_midnight",
    "retention_daily",
    "quality_checks_every_15_min",
    "pair_screen_daily",
    "pair_backtest_daily",
}
SENSORS = {
    "ohlcv_closed_hour_sensor",
    "pair_statistics_on_closed_bars_sensor",
    "trades_observation_sensor",
    "cointegration_break_sensor",
    "feed_freshness_sensor",
    "run_failure_alert_sensor",
    "alert_dispatch_sensor",
}


def test_definitions_load_and_everything_resolves() -> None:
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert JOBS <= {j.name for j in repo.get_all_jobs()}
    assert {s.name for s in repo.schedule_defs} == SCHEDULES
    assert {s.name for s in repo.sensor_defs} == SENSORS
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name
    for name in SCHEDULES:
        schedule = defs.resolve_schedule_def(name)
        assert schedule.job_name in JOBS
        assert schedule.execution_timezone == "UTC"
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).name == name
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == {
        "trades",
        "ohlcv",
        "pair_statistics",
        "daily_report",
        "pair_screen",
        "pair_backtest",
    }
    checks = {k.name for k in repo.asset_graph.asset_check_keys}
    assert checks == {
        "ohlcv_consistency",
        "ohlcv_matches_trades",
        "trades_no_duplicates",
        "trades_minutes_without_trades",
        "trades_feed_freshness",
        "pairs_written",
    }


def test_ohlcv_is_hourly_single_run_backfill_and_trades_is_external() -> None:
    graph = defs.get_repository_def().asset_graph
    ohlcv = graph.get(defs.resolve_assets_def("ohlcv").key)
    assert ohlcv.partitions_def.get_partition_keys()[0] == "2026-01-01-00:00"
    assert ohlcv.backfill_policy.max_partitions_per_run is None  # single run
    assert not graph.get(AssetKey("trades")).is_materializable


FIRST_KEYS = """
from quant_platform.definitions import defs
graph = defs.get_repository_def().asset_graph
for name in ("ohlcv", "pair_screen", "daily_report", "pair_backtest"):
    pdef = graph.get(defs.resolve_assets_def(name).key).partitions_def
    for dim in getattr(pdef, "partitions_defs", None) or []:
        if dim.name == "date":  # multi-partitioned: the time dimension
            pdef = dim.partitions_def
    print(name, pdef.get_partition_keys()[0][:10])
"""


def test_every_time_partitioned_asset_starts_at_the_data_start() -> None:
    """No asset lists months of "missing" partitions before the data (seen: 335 empty days)."""
    env = {**os.environ, "QP_PARTITIONS_START": "2026-11-30"}
    out = subprocess.run(
        [sys.executable, "-c", FIRST_KEYS], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    firsts = dict(zip(out[::2], out[1::2], strict=True))
    assert firsts == dict.fromkeys(
        ("ohlcv", "pair_screen", "daily_report", "pair_backtest"), "2026-11-30"
    )


@pytest.fixture()
def dagster_pg_url(pg_server_url: str) -> Iterator[str]:
    """An empty database of its own for dagster-postgres's tables, dropped afterwards."""
    name = f"qp_dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.mark.parametrize("name", ["dagster.yaml", "dagster_postgres.yaml"])
def test_instance_yaml_templates_load(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_pg_url: str
) -> None:
    """Each template loads as a real instance (SQLite, or PostgreSQL on the test server)."""
    shutil.copy(ORCH / name, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_runs() == []
        assert not instance.nux_enabled  # no "Join the community" modal for newcomers
    limits = yaml.safe_load((ORCH / name).read_text())["run_coordinator"]["config"][
        "tag_concurrency_limits"
    ]
    assert {"key": "qp/lane", "value": "resample", "limit": 1} in limits
    assert {"key": "dagster/backfill", "limit": 1} in limits
