"""Quality checks every 15 minutes, so a bad bar or a gap is visible within the quarter hour."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from quant_platform.orchestration.quality.jobs import quality_checks_job

quality_checks_schedule = ScheduleDefinition(
    name="quality_checks_every_15_min",
    job=quality_checks_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Run the data-quality checks every 15 minutes.",
)
