"""Keeps the open (current-hour) OHLCV partition fresh and closes each hour once.

A sensor rather than a cron schedule: cron cannot tick faster than once a minute,
and the open partition must stay within ~30 s of the trades.
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from quant_platform.orchestration.ohlcv.jobs import RESAMPLE_LANE_TAGS, ohlcv_resample_job

RESAMPLE_EVERY_S = 25
# The previous hour is re-run once, this long after it closed, so late-flushed trades
# (the daemon batches every few seconds) make it into its final bars.
FINAL_AFTER_S = 60
FINAL_WINDOW_S = 15 * 60
_ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def partition_key_for(t: datetime) -> str:
    """The hourly partition key containing `t` (UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def resample_requests(now: datetime, open_run_active: bool) -> list[RunRequest]:
    """Run requests for `now`: the open hour (one per time slot) and the just-closed hour once.

    Run keys make a repeated evaluation within a slot a no-op; the open refresh is
    skipped while one is still queued or running, so slow runs never pile up.
    """
    now = now.astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    requests: list[RunRequest] = []
    since_hour = (now - hour).total_seconds()
    if FINAL_AFTER_S <= since_hour < FINAL_WINDOW_S:
        prev = partition_key_for(hour - timedelta(hours=1))
        requests.append(
            RunRequest(
                run_key=f"{prev}:final",
                partition_key=prev,
                tags={**RESAMPLE_LANE_TAGS, "qp/resample": "final"},
            )
        )
    if not open_run_active:
        key = partition_key_for(now)
        slot = int(now.timestamp()) // RESAMPLE_EVERY_S
        requests.append(
            RunRequest(
                run_key=f"{key}@{slot}",
                partition_key=key,
                tags={**RESAMPLE_LANE_TAGS, "qp/resample": "open"},
            )
        )
    return requests


@sensor(
    job=ohlcv_resample_job,
    minimum_interval_seconds=RESAMPLE_EVERY_S,
    default_status=DefaultSensorStatus.RUNNING,
    description="Refreshes the current hour's bars every ~25 s and finalises the previous hour.",
)
def ohlcv_open_partition_sensor(context: SensorEvaluationContext) -> SensorResult:
    active = context.instance.get_runs_count(
        RunsFilter(tags={"qp/resample": "open"}, statuses=_ACTIVE)
    )
    requests = resample_requests(datetime.now(UTC), open_run_active=active > 0)
    cursor = requests[-1].run_key if requests else context.cursor
    return SensorResult(run_requests=requests, cursor=cursor)
