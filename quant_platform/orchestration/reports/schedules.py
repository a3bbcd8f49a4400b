"""Yesterday's report at 00:10 UTC: late enough for the last hour's final resample."""

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from quant_platform.orchestration.reports.jobs import daily_report_job

daily_report_schedule = build_schedule_from_partitioned_job(
    daily_report_job,
    name="daily_report_after_midnight",
    hour_of_day=0,
    minute_of_hour=10,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materialise the previous UTC day's report at 00:10 UTC.",
)
