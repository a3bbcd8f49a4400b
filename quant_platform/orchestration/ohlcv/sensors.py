"""Materialises each closed hour's OHLCV partition once.

The open hour's bars are kept fresh by the ingestion daemon every ~30 s
(`quant_platform.ingestion.open_bars`), not by Dagster runs: those were two runs a
minute that buried every run a person cares about. Here the hour just closed is
resampled once, a minute after it closed so late-flushed trades (the daemon
batches every few seconds) make it into its final bars, and that run is its
materialisation, with the OHLCV checks.
"""

from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from quant_platform.orchestration.ohlcv.jobs import RESAMPLE_LANE_TAGS, ohlcv_resample_job

# The previous hour is resampled once, between these many seconds after it closed.
FINAL_AFTER_S = 60
FINAL_WINDOW_S = 15 * 60
CHECK_EVERY_S = 30


def partition_key_for(t: datetime) -> str:
    """The hourly partition key containing `t` (UTC)."""
    return t.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def resample_requests(now: datetime) -> list[RunRequest]:
    """The just-closed hour's final run, inside its window after the hour; else nothing.

    The run key makes every evaluation within the window after the first a no-op.
    """
    now = now.astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    if not FINAL_AFTER_S <= (now - hour).total_seconds() < FINAL_WINDOW_S:
        return []
    prev = partition_key_for(hour - timedelta(hours=1))
    return [
        RunRequest(
            run_key=f"{prev}:final",
            partition_key=prev,
            tags={**RESAMPLE_LANE_TAGS, "qp/resample": "final"},
        )
    ]


@sensor(
    job=ohlcv_resample_job,
    minimum_interval_seconds=CHECK_EVERY_S,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Materialises each hour's OHLCV partition once, a minute after it closes "
        "(the ingestion daemon keeps the open hour's bars fresh every ~30 s)."
    ),
)
def ohlcv_closed_hour_sensor(context: SensorEvaluationContext) -> SensorResult:
    requests = resample_requests(datetime.now(UTC))
    cursor = requests[-1].run_key if requests else context.cursor
    return SensorResult(run_requests=requests, cursor=cursor)
