"""Research: the daily backtest of each configured pair, and a pair's split parameter sweep."""

from dagster import Definitions

from quant_platform.orchestration.backtest.assets import (
    BACKTEST_PARTITIONS,
    pair_backtest,
    pair_key,
)
from quant_platform.orchestration.backtest.jobs import (
    backtest_sweep_fanout_job,
    pair_backtest_job,
    pair_backtest_schedule,
)

defs = Definitions(
    assets=[pair_backtest],
    jobs=[pair_backtest_job, backtest_sweep_fanout_job],
    schedules=[pair_backtest_schedule],
)

__all__ = [
    "BACKTEST_PARTITIONS",
    "backtest_sweep_fanout_job",
    "defs",
    "pair_backtest",
    "pair_backtest_job",
    "pair_key",
]
