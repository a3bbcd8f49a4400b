"""The daily HTML/CSV report: asset, job and after-midnight schedule."""

from dagster import Definitions

from quant_platform.orchestration.reports.assets import REPORT_PARTITIONS, daily_report
from quant_platform.orchestration.reports.jobs import daily_report_job
from quant_platform.orchestration.reports.schedules import daily_report_schedule

defs = Definitions(
    assets=[daily_report], jobs=[daily_report_job], schedules=[daily_report_schedule]
)

__all__ = ["REPORT_PARTITIONS", "daily_report", "daily_report_job", "defs"]
