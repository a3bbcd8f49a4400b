"""The daily pair-backtest job and its schedule (00:30 UTC: after the report's resample)."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from quant_platform.orchestration.backtest.assets import pair_backtest

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
