"""Research: the daily pair screen (BH-controlled cointegration screen of every pair)."""

from dagster import Definitions

from quant_platform.orchestration.screener.assets import pair_screen
from quant_platform.orchestration.screener.jobs import (
    pair_screen_fanout_job,
    pair_screen_job,
    pair_screen_schedule,
)

defs = Definitions(
    assets=[pair_screen],
    jobs=[pair_screen_job, pair_screen_fanout_job],
    schedules=[pair_screen_schedule],
)

__all__ = ["defs", "pair_screen", "pair_screen_fanout_job", "pair_screen_job"]
