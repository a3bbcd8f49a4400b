"""Scheduled reports: one Dagster schedule per definition in QP_REPORTS_FILE."""

from quant_platform.orchestration.scheduled_reports.jobs import (
    build_report_schedules,
    scheduled_report_job,
)
from quant_platform.orchestration.scheduled_reports.schedules import defs

__all__ = ["build_report_schedules", "defs", "scheduled_report_job"]
