"""OHLCV resampling: hourly-partitioned bars and the sensor that materialises each closed hour."""

from dagster import Definitions

from quant_platform.orchestration.ohlcv.assets import OHLCV_PARTITIONS, ohlcv, resample_window
from quant_platform.orchestration.ohlcv.jobs import ohlcv_backfill_job, ohlcv_resample_job
from quant_platform.orchestration.ohlcv.sensors import ohlcv_closed_hour_sensor

defs = Definitions(
    assets=[ohlcv],
    jobs=[ohlcv_resample_job, ohlcv_backfill_job],
    sensors=[ohlcv_closed_hour_sensor],
)

__all__ = [
    "OHLCV_PARTITIONS",
    "defs",
    "ohlcv",
    "ohlcv_backfill_job",
    "ohlcv_resample_job",
    "resample_window",
]
