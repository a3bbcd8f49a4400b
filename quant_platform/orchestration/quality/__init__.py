"""Data-quality asset checks on trades and bars, their job and schedule."""

from dagster import Definitions

from quant_platform.orchestration.quality.checks import ohlcv_checks, trades_checks
from quant_platform.orchestration.quality.jobs import quality_checks_job
from quant_platform.orchestration.quality.schedules import quality_checks_schedule

defs = Definitions(
    asset_checks=[*ohlcv_checks, *trades_checks],
    jobs=[quality_checks_job],
    schedules=[quality_checks_schedule],
)

__all__ = ["defs", "ohlcv_checks", "quality_checks_job", "trades_checks"]
