"""OHLCV bars resampled from `trades` inside TimescaleDB, one hourly partition at a time.

The database does the work (`time_bucket` over the partition's time window) so a
week's backfill is one set-based statement in one run (`BackfillPolicy.single_run()`),
never rows shipped to Python. 1m bars come from trades; 5m and 1h bars are rolled up
from the fresh 1m bars of the same window, so all three always agree.
"""

import time

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    HourlyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_platform.config import get_settings
from quant_platform.orchestration.celery.lanes import RESAMPLE_QUEUE, queue_tags
from quant_platform.orchestration.partitions import partitions_start
from quant_platform.orchestration.resources import TimescaleResource
from quant_platform.storage.ohlcv_resample import INTERVALS, resample_window

# Starts at the data's start (`partitions.partitions_start`: QP_PARTITIONS_START, else
# what the first `qp up` recorded), so the Catalog lists no empty hours before it.
# `end_offset=1` adds the current, still-open hour: the ingestion daemon keeps its bars
# fresh (quant_platform.ingestion.open_bars) and the sensor materialises it once closed.
OHLCV_PARTITIONS = HourlyPartitionsDefinition(
    start_date=partitions_start(get_settings()), end_offset=1
)


@asset(
    group_name="ohlcv",
    kinds={"timescaledb", "sql"},
    partitions_def=OHLCV_PARTITIONS,
    backfill_policy=BackfillPolicy.single_run(),
    deps=["trades"],
    description=(
        "1m OHLCV bars per symbol from `trades` (time_bucket in TimescaleDB), with 5m and "
        "1h bars rolled up from them. Re-running a partition replaces exactly its bars. "
        "Backfill ranges from the asset page: one run, one statement."
    ),
    metadata={"table": "ohlcv", "intervals": ", ".join(INTERVALS)},
    # on the Celery executor: the queue every worker drains before any backfill step
    op_tags=queue_tags(RESAMPLE_QUEUE),
)
def ohlcv(context: AssetExecutionContext, timescale: TimescaleResource) -> MaterializeResult:
    window = context.partition_time_window
    t0 = time.perf_counter()
    with timescale.connect() as conn:
        written = resample_window(conn, window.start, window.end)
        symbols = conn.execute(
            "SELECT count(DISTINCT symbol) FROM ohlcv "
            "WHERE interval = '1m' AND bucket >= %s AND bucket < %s",
            (window.start, window.end),
        ).fetchone()
    elapsed = time.perf_counter() - t0
    context.log.info(
        "resampled %s .. %s: %s in %.3f s",
        window.start.isoformat(),
        window.end.isoformat(),
        written,
        elapsed,
    )
    return MaterializeResult(
        metadata={
            "window_start": MetadataValue.timestamp(window.start),
            "window_end": MetadataValue.timestamp(window.end),
            "partitions": len(context.partition_keys),
            "bars_1m": written["1m"],
            "bars_5m": written["5m"],
            "bars_1h": written["1h"],
            "symbols": int(symbols[0]) if symbols else 0,
            "dagster/row_count": sum(written.values()),
            "duration_s": round(elapsed, 4),
        }
    )
