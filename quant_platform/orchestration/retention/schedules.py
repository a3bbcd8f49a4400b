"""Retention once a day, in the quiet hour after the daily report."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from quant_platform.orchestration.retention.jobs import retention_job

retention_schedule = ScheduleDefinition(
    name="retention_daily",
    job=retention_job,
    cron_schedule="30 1 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Drop expired chunks and alert events daily at 01:30 UTC.",
)
