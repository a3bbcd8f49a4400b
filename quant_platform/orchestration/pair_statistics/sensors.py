"""Recompute statistics when closed bars change (a backfill or an hour's final resample).

Only materialisations of *closed* partitions trigger a run here (the open hour's bars
are refreshed by the ingestion daemon, outside Dagster, and a manual materialisation
of the open hour is not a reason to recompute); the 5-minute schedule covers the open hour.
"""

from datetime import UTC, datetime

from dagster import (
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.ohlcv.sensors import partition_key_for
from quant_platform.orchestration.pair_statistics.jobs import pair_statistics_job

_PAGE = 500


def closed_bar_changes(
    instance: DagsterInstance, cursor: str | None, now: datetime
) -> tuple[list[RunRequest], str | None]:
    """One run request if closed `ohlcv` partitions were materialised after `cursor`.

    The cursor is the last seen event storage id; a first evaluation only sets it
    (history before the sensor was switched on is not replayed).
    """
    if cursor is None:
        latest = instance.fetch_materializations(ohlcv.key, limit=1).records
        return [], str(latest[0].storage_id) if latest else "0"
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=ohlcv.key, after_storage_id=int(cursor)),
        limit=_PAGE,
        ascending=True,
    )
    if not result.records:
        return [], cursor
    open_key = partition_key_for(now)
    last_id = result.records[-1].storage_id
    closed = sorted({r.partition_key for r in result.records if r.partition_key != open_key})
    requests = []
    if closed:
        requests.append(
            RunRequest(
                run_key=f"ohlcv-closed@{last_id}",
                tags={"qp/trigger": "ohlcv-closed", "qp/partitions": f"{closed[0]}..{closed[-1]}"},
            )
        )
    return requests, str(last_id)


@sensor(
    job=pair_statistics_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Recomputes pair statistics after closed OHLCV partitions are (re)materialised.",
)
def pair_statistics_on_closed_bars_sensor(context: SensorEvaluationContext) -> SensorResult:
    requests, cursor = closed_bar_changes(context.instance, context.cursor, datetime.now(UTC))
    return SensorResult(run_requests=requests, cursor=cursor)
