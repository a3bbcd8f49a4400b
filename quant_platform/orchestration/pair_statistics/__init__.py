"""Batch pair statistics: the asset, its job, the 5-minute schedule and the closed-bars sensor."""

from dagster import Definitions

from quant_platform.orchestration.pair_statistics.assets import pair_statistics
from quant_platform.orchestration.pair_statistics.jobs import pair_statistics_job
from quant_platform.orchestration.pair_statistics.schedules import pair_statistics_schedule
from quant_platform.orchestration.pair_statistics.sensors import (
    pair_statistics_on_closed_bars_sensor,
)

defs = Definitions(
    assets=[pair_statistics],
    jobs=[pair_statistics_job],
    schedules=[pair_statistics_schedule],
    sensors=[pair_statistics_on_closed_bars_sensor],
)

__all__ = ["defs", "pair_statistics", "pair_statistics_job"]
