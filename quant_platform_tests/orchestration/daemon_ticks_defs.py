"""A small code location for the PostgreSQL-instance daemon test: one schedule, one sensor.

The real `dagster-webserver` and `dagster-daemon` load this file (not the
platform's `Definitions`), so the test exercises the instance storage, the
scheduler, the sensor daemon and the run queue without depending on what the
platform's own schedules happen to find in the database.
"""

from collections.abc import Iterator

from dagster import (
    Definitions,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    job,
    op,
    sensor,
)

LOCATION = "pg_ticks"
SCHEDULE = "pg_every_minute"
SENSOR = "pg_sensor_once"


@op
def report_run(context: OpExecutionContext) -> str:
    """Why: a run that executes a step proves the daemon's launcher really ran it."""
    context.log.info("tick run %s", context.run_id)
    return context.run_id


@job
def tick_job() -> None:
    report_run()


every_minute = ScheduleDefinition(name=SCHEDULE, cron_schedule="* * * * *", job=tick_job)


@sensor(name=SENSOR, job=tick_job, minimum_interval_seconds=5)
def sensor_once(context: SensorEvaluationContext) -> Iterator[RunRequest | SkipReason]:
    """Requests one run, then skips: the cursor says it already fired."""
    if context.cursor == "fired":
        yield SkipReason("already fired")
        return
    context.update_cursor("fired")
    yield RunRequest(run_key="once")


defs = Definitions(jobs=[tick_job], schedules=[every_minute], sensors=[sensor_once])
