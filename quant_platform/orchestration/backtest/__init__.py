"""Research: the daily backtest of each configured pair (summary and equity in metadata)."""

from dagster import Definitions

from quant_platform.orchestration.backtest.assets import (
    BACKTEST_PARTITIONS,
    pair_backtest,
    pair_key,
)
from quant_platform.orchestration.backtest.jobs import pair_backtest_job, pair_backtest_schedule

defs = Definitions(
    assets=[pair_backtest], jobs=[pair_backtest_job], schedules=[pair_backtest_schedule]
)

__all__ = ["BACKTEST_PARTITIONS", "defs", "pair_backtest", "pair_backtest_job", "pair_key"]
