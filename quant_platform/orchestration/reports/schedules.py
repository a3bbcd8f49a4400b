"""Yesterday's report at 00:10 UTC: late enough for the last hour's final resample.

The report partitions include today (so today's report so far can be run by hand),
so the schedule names the finished previous day itself instead of "the last partition".
"""

from datetime import timedelta

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from quant_platform.orchestration.reports.jobs import daily_report_job


@schedule(
    job=daily_report_job,
    name="daily_report_after_midnight",
    cron_schedule="10 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materialise the previous UTC day's report at 00:10 UTC.",
)
def daily_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
    return RunRequest(run_key=day, partition_key=day)
