"""The daily pair-backtest job and its schedule (00:30 UTC), and the split parameter sweep."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from quant_platform.orchestration.backtest.assets import pair_backtest
from quant_platform.orchestration.backtest.sweep_fanout import build_backtest_sweep_fanout_job
from quant_platform.orchestration.celery.executor import platform_executor

pair_backtest_job = define_asset_job(
    name="pair_backtest_job",
    selection=AssetSelection.assets(pair_backtest),
    executor_def=in_process_executor,
    tags={"qp/lane": "statistics"},
    description="Backtest each configured pair over one UTC day.",
)

pair_backtest_schedule = build_schedule_from_partitioned_job(
    pair_backtest_job,
    name="pair_backtest_daily",
    hour_of_day=0,
    minute_of_hour=30,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Backtest every configured pair over the previous UTC day.",
)

# A pair's parameter sweep split into steps, for the Celery workers (QP_DAGSTER_EXECUTOR=celery).
backtest_sweep_fanout_job = build_backtest_sweep_fanout_job(platform_executor())
