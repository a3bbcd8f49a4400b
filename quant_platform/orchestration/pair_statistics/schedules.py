"""Statistics every 5 minutes: the cadence the dashboard's batch view promises."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

from quant_platform.orchestration.pair_statistics.jobs import pair_statistics_job

pair_statistics_schedule = ScheduleDefinition(
    name="pair_statistics_every_5_min",
    job=pair_statistics_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Recompute pair statistics every 5 minutes.",
)
