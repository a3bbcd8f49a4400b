"""Retention: drop old hypertable chunks, trim alert events, compress where TSL allows.

`drop_chunks` removes whole chunks (files), so a week of ticks goes in
milliseconds without a DELETE's bloat. A chunk is dropped only when all of it is
older than the cut, so nothing newer is ever touched.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from dagster import (
    AssetObservation,
    Config,
    DagsterInstance,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunsFilter,
    in_process_executor,
    job,
    op,
)

from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource

_DROP_SQL = "SELECT drop_chunks(%s::regclass, older_than => %s::interval)"
_COMPRESS_SQL = """
SELECT compress_chunk(c, if_not_compressed => true)
FROM show_chunks(%s::regclass, older_than => %s::interval) AS c
"""
_DELETE_ALERTS_SQL = "DELETE FROM alert_events WHERE time < now() - %s::interval"
# Tables compressed where the license allows (migration 0006 enables them).
COMPRESSIBLE = ("trades", "ohlcv")


@dataclass
class RetentionReport:
    """What one retention pass removed or compressed."""

    dropped: dict[str, list[str]] = field(default_factory=dict)
    compressed: dict[str, list[str]] = field(default_factory=dict)
    alert_events_deleted: int = 0
    license: str = "unknown"


def apply_retention_sql(
    conn: psycopg.Connection,
    retention: dict[str, timedelta],
    alerts_older_than: timedelta,
    compress_older_than: timedelta | None,
) -> RetentionReport:
    """Drop chunks per hypertable, delete old alert events, optionally compress.

    `compress_older_than` None skips compression (the Apache build has none).
    """
    report = RetentionReport()
    report.license = str(
        conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0]
    )
    for table, older_than in retention.items():
        rows = conn.execute(_DROP_SQL, (table, older_than)).fetchall()
        report.dropped[table] = [str(r[0]) for r in rows]
    cur = conn.execute(_DELETE_ALERTS_SQL, (alerts_older_than,))
    report.alert_events_deleted = cur.rowcount
    if compress_older_than is not None and report.license == "timescale":
        for table in COMPRESSIBLE:
            rows = conn.execute(_COMPRESS_SQL, (table, compress_older_than)).fetchall()
            report.compressed[table] = [str(r[0]) for r in rows if r[0] is not None]
    conn.commit()
    return report


def purge_open_resample_runs(instance: DagsterInstance, older_than: timedelta) -> int:
    """Delete superseded open-hour resample runs (2,000+ a day) from Dagster's storage.

    Each hour's final run (tag qp/resample=final) is kept, so partition status and
    the latest materialisation of every closed hour stay visible in the UI.
    """
    cutoff = datetime.now(UTC) - older_than
    records = instance.get_run_records(
        RunsFilter(tags={"qp/resample": "open"}, created_before=cutoff), limit=5000
    )
    for record in records:
        instance.delete_run(record.dagster_run.run_id)
    return len(records)


class RetentionConfig(Config):
    """Knobs beyond the QP_*_RETENTION_DAYS settings."""

    compress_after_days: int = 1
    dagster_open_runs_keep_days: int = 2


@op(description="Drop old chunks (trades, ohlcv, pair_statistics), old alert events; compress.")
def apply_retention(
    context: OpExecutionContext,
    config: RetentionConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> Output[None]:
    bars_days = timedelta(days=platform.ohlcv_retention_days)
    retention = {
        "trades": timedelta(days=platform.retention_days),
        "ohlcv": bars_days,
        "pair_statistics": bars_days,  # statistics live as long as the bars they come from
    }
    with timescale.connect() as conn:
        report = apply_retention_sql(
            conn,
            retention,
            timedelta(days=platform.alerts_retention_days),
            timedelta(days=config.compress_after_days),
        )
    purged = purge_open_resample_runs(
        context.instance, timedelta(days=config.dagster_open_runs_keep_days)
    )
    for table in ("trades", "ohlcv"):
        context.log_event(
            AssetObservation(
                asset_key=table,
                metadata={
                    "retention_dropped_chunks": len(report.dropped.get(table, [])),
                    "retention_compressed_chunks": len(report.compressed.get(table, [])),
                },
            )
        )
    context.log.info(
        "dropped %s, compressed %s, %d alert events deleted, %d old resample runs purged",
        {t: len(c) for t, c in report.dropped.items()},
        {t: len(c) for t, c in report.compressed.items()},
        report.alert_events_deleted,
        purged,
    )
    return Output(
        None,
        metadata={
            "license": report.license,
            "dropped_chunks": sum(len(c) for c in report.dropped.values()),
            "dropped": MetadataValue.json(report.dropped),
            "compressed_chunks": sum(len(c) for c in report.compressed.values()),
            "compressed": MetadataValue.json(report.compressed),
            "compression": "enabled" if report.license == "timescale" else "unavailable (apache)",
            "alert_events_deleted": report.alert_events_deleted,
            "dagster_open_resample_runs_purged": purged,
            "retention_days": MetadataValue.json(
                {t: d.days for t, d in retention.items()}
                | {"alert_events": platform.alerts_retention_days}
            ),
        },
    )


@job(
    executor_def=in_process_executor,
    tags={"qp/lane": "maintenance"},
    description="Daily retention: drop_chunks by QP_RETENTION_DAYS / QP_OHLCV_RETENTION_DAYS, "
    "trim alert events by QP_ALERTS_RETENTION_DAYS, compress chunks older than a day (TSL only).",
)
def retention_job() -> None:
    apply_retention()
