"""The resampling job and the run tags that keep it ahead of backfills in the run queue."""

from dagster import AssetSelection, define_asset_job

from quant_platform.orchestration.celery.executor import platform_executor
from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.ohlcv.backfill import build_ohlcv_backfill_job

# dagster.yaml limits `qp/lane=resample` to one run at a time and caps backfill runs,
# so the open-partition refresh always has a slot; priority puts it first in the queue.
# On Celery its step goes to the resample queue, which every worker drains first.
RESAMPLE_LANE_TAGS: dict[str, str] = {"qp/lane": "resample", "dagster/priority": "10"}

# The OHLCV checks run with every resample (they are cheap: a day's bars and a few
# sampled minutes), so the latest materialisation is never shown "Not evaluated".
ohlcv_resample_job = define_asset_job(
    name="ohlcv_resample_job",
    selection=AssetSelection.assets(ohlcv),
    executor_def=platform_executor(),
    description="Resample one hourly partition of trades into 1m/5m/1h bars (the sensor's target).",
)

ohlcv_backfill_job = build_ohlcv_backfill_job(platform_executor())
