"""Dagster steps on two real `qp worker` processes over the real Redis (dagster-celery)."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, execute_job, reconstructable
from psycopg import sql

from quant_platform.config import Settings
from quant_platform_tests.orchestration.celery_jobs import (
    HOURS_START,
    ohlcv_in_process,
    ohlcv_on_celery,
    spread,
)
from quant_platform_tests.orchestration.celery_workers import assert_same_to_rounding, db_bars
from quant_platform_tests.orchestration.orch_seed import seed_frame, synthetic_trades


def test_steps_run_on_both_workers(
    settings: Settings, workers: list[subprocess.Popen], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("QP_REDIS_URL", settings.redis_url)
    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster"))
    with execute_job(reconstructable(spread), instance=instance, raise_on_error=False) as result:
        assert result.success
        pids = {result.output_for_node(f"where_{i}") for i in range(4)}
    assert pids == {p.pid for p in workers}  # --pool solo: steps run in the worker process


def test_qp_up_workers_adds_named_worker_processes(settings: Settings) -> None:
    from quant_platform.cli.up_cmd import build_specs

    names = {s.name: s for s in build_specs(settings, "binance", workers=2)}
    assert [names[f"worker-{i}"].argv[1:3] for i in range(2)] == [["worker", "--name"]] * 2
    assert not any(n.startswith("worker") for n in {s.name for s in build_specs(settings, "x")})


def test_six_hour_ohlcv_on_two_workers_equals_in_process(
    settings: Settings,
    db: psycopg.Connection,
    workers: list[subprocess.Popen],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Six hourly resample steps spread over both workers; the bars equal an in-process run."""
    monkeypatch.setenv("QP_REDIS_URL", settings.redis_url)
    end = HOURS_START + timedelta(hours=6)
    seed_frame(db, synthetic_trades(("BTCUSDT", "ETHUSDT"), HOURS_START, end, 3000, seed=5))
    config = {"resources": {"timescale": {"config": {"database_url": settings.database_url}}}}
    (tmp_path / "dagster").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "dagster"))
    with execute_job(reconstructable(ohlcv_in_process), instance=instance, run_config=config) as r:
        assert r.success
    in_process = db_bars(db, HOURS_START, end)
    db.execute("TRUNCATE ohlcv")
    assert db_bars(db, HOURS_START, end) == []
    with execute_job(reconstructable(ohlcv_on_celery), instance=instance, run_config=config) as r:
        assert r.success
        pids = {r.output_for_node(f"ohlcv_hour_{i}") for i in range(6)}
    assert pids == {p.pid for p in workers}
    on_celery = db_bars(db, HOURS_START, end)
    assert len(on_celery) > 6 * 2 * 60  # 1m bars for 2 symbols over 6 hours, plus rollups
    assert_same_to_rounding(on_celery, in_process)


def test_dagster_storage_postgres_keeps_runs_in_postgresql(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qp up --dagster-storage postgres`: the instance it installs stores runs in PostgreSQL."""
    from quant_platform.cli.up_cmd import build_specs, dagster_pg_url
    from quant_platform.services.local import ensure_database

    url = dagster_pg_url(settings)
    assert url.rsplit("/", 1)[1] == settings.database_url.rsplit("/", 1)[1] + "_dagster"
    ensure_database(settings.database_url, url.rsplit("/", 1)[1])
    specs = build_specs(settings, "binance", dagster_storage="postgres")
    env = next(s.env for s in specs if s.name == "dagster-daemon")
    assert env["DAGSTER_PG_URL"] == url
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    try:
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            with execute_job(
                reconstructable(ohlcv_in_process),
                instance=instance,
                run_config={
                    "resources": {"timescale": {"config": {"database_url": settings.database_url}}}
                },
            ) as r:
                assert r.success
                run_id = r.run_id
        assert url.startswith("postgresql+psycopg2://")
        with psycopg.connect(url.replace("+psycopg2", "")) as conn:
            row = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        assert row == ("SUCCESS",)
    finally:  # the shared server keeps no database behind
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(url.rsplit("/", 1)[1])
                )
            )
