"""The daily pair-screen job and its schedule (00:20 UTC, after the day's last resample)."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from quant_platform.orchestration.celery.executor import platform_executor
from quant_platform.orchestration.screener.assets import pair_screen
from quant_platform.orchestration.screener.fanout import build_pair_screen_fanout_job

pair_screen_job = define_asset_job(
    name="pair_screen_job",
    selection=AssetSelection.assets(pair_screen),
    executor_def=in_process_executor,
    tags={"qp/lane": "statistics"},
    description="Screen every pair of the universe over the bars ending at one UTC day's end.",
)

pair_screen_schedule = build_schedule_from_partitioned_job(
    pair_screen_job,
    name="pair_screen_daily",
    hour_of_day=0,
    minute_of_hour=20,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Screen the universe over the lookback ending at the previous UTC day's end.",
)

# The same screen split into steps, for the Celery workers (QP_DAGSTER_EXECUTOR=celery).
pair_screen_fanout_job = build_pair_screen_fanout_job(platform_executor())
