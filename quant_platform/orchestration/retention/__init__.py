"""Retention: the drop_chunks/compression job and its daily schedule."""

from dagster import Definitions

from quant_platform.orchestration.retention.jobs import apply_retention_sql, retention_job
from quant_platform.orchestration.retention.schedules import retention_schedule

defs = Definitions(jobs=[retention_job], schedules=[retention_schedule])

__all__ = ["apply_retention_sql", "defs", "retention_job", "retention_schedule"]
