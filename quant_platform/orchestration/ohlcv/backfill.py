"""OHLCV backfill fanned out over steps: one step per chunk of hourly partitions.

The `ohlcv` asset's own backfill is one run with one set-based statement
(`BackfillPolicy.single_run()`): the right thing in one process. With
QP_DAGSTER_EXECUTOR=celery this job is the backfill path instead: a planning step
cuts the partition range into chunks of `hours_per_step` hours, one dynamic step
per chunk resamples it (the same `resample_window` call as the asset) on whichever
Celery worker is free, and each step records an `ohlcv` materialisation per
partition, so the asset's partitions show as materialised exactly as after the
asset's own backfill. Steps go to the backfill queue, which workers drain last
(`orchestration.celery.lanes`), and carry a retry policy, so a step that failed on
a dying worker or a dropped connection runs again.
"""

import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime

from dagster import (
    AssetMaterialization,
    Backoff,
    Config,
    DynamicOut,
    DynamicOutput,
    ExecutorDefinition,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    PartitionKeyRange,
    RetryPolicy,
    graph,
    op,
)

from quant_platform.orchestration.celery.lanes import BACKFILL_QUEUE, queue_tags
from quant_platform.orchestration.ohlcv.assets import OHLCV_PARTITIONS
from quant_platform.orchestration.resources import TimescaleResource
from quant_platform.storage.ohlcv_resample import resample_window

# The run-queue lane (dagster.yaml gives it one slot, so two backfills never share
# the workers, and the resample lane keeps its own).
BACKFILL_LANE_TAGS: dict[str, str] = {"qp/lane": "backfill"}
STEP_RETRY = RetryPolicy(max_retries=3, delay=2.0, backoff=Backoff.EXPONENTIAL)


class OhlcvBackfillConfig(Config):
    """The partition range (hourly keys, inclusive) and how many hours one step takes."""

    first: str
    last: str
    hours_per_step: int = 1


def chunk_keys(first: str, last: str, hours_per_step: int) -> list[list[str]]:
    """The hourly partition keys of [first, last] in consecutive chunks.

    Raises:
        ValueError: a key is not an existing partition, first > last, or
            hours_per_step < 1.
    """
    if hours_per_step < 1:
        raise ValueError(f"hours_per_step must be >= 1, got {hours_per_step}")
    keys = OHLCV_PARTITIONS.get_partition_keys_in_range(PartitionKeyRange(first, last))
    if not keys:
        raise ValueError(f"no ohlcv partitions in {first} .. {last}")
    return [keys[i : i + hours_per_step] for i in range(0, len(keys), hours_per_step)]


@op(
    out=DynamicOut(list[str]),
    tags=queue_tags(BACKFILL_QUEUE),
    description="Cut the partition range into chunks, one step each.",
)
def plan_ohlcv_chunks(config: OhlcvBackfillConfig) -> Iterator[DynamicOutput[list[str]]]:
    for chunk in chunk_keys(config.first, config.last, config.hours_per_step):
        mapping_key = "".join(c if c.isalnum() else "_" for c in chunk[0])
        yield DynamicOutput(chunk, mapping_key=f"h{mapping_key}")


def _window(keys: list[str]) -> tuple[datetime, datetime]:
    first = OHLCV_PARTITIONS.time_window_for_partition_key(keys[0])
    last = OHLCV_PARTITIONS.time_window_for_partition_key(keys[-1])
    return first.start, last.end


@op(
    tags=queue_tags(BACKFILL_QUEUE),
    retry_policy=STEP_RETRY,
    description="Resample one chunk of hours (one transaction) and record each partition.",
)
def resample_ohlcv_chunk(
    context: OpExecutionContext, timescale: TimescaleResource, keys: list[str]
) -> Iterator[AssetMaterialization | Output[dict[str, object]]]:
    start, end = _window(keys)
    t0 = time.perf_counter()
    with timescale.connect() as conn:
        written = resample_window(conn, start, end)
    elapsed = time.perf_counter() - t0
    where = f"{socket.gethostname()}:{os.getpid()}"
    context.log.info(f"resampled {keys[0]} .. {keys[-1]}: {written} in {elapsed:.3f} s on {where}")
    for key in keys:
        yield AssetMaterialization(
            asset_key="ohlcv",
            partition=key,
            metadata={
                "window_start": MetadataValue.timestamp(start),
                "window_end": MetadataValue.timestamp(end),
                "partitions": len(keys),
                "bars_1m": written["1m"],
                "worker": where,
            },
        )
    yield Output({"keys": keys, "bars": sum(written.values()), "worker": where})


@op(
    tags=queue_tags(BACKFILL_QUEUE),
    description="Totals of the backfill: partitions, bars, the workers that ran it.",
)
def summarise_ohlcv_backfill(
    context: OpExecutionContext, chunks: list[dict[str, object]]
) -> dict[str, object]:
    partitions = sum(len(c["keys"]) for c in chunks)  # type: ignore[arg-type]
    bars = sum(int(c["bars"]) for c in chunks)  # type: ignore[call-overload]
    workers = sorted({str(c["worker"]) for c in chunks})
    context.log.info(f"{partitions} partitions, {bars} bars, workers {workers}")
    return {"partitions": partitions, "bars": bars, "workers": workers}


@graph
def ohlcv_backfill() -> None:
    summarise_ohlcv_backfill(plan_ohlcv_chunks().map(resample_ohlcv_chunk).collect())


def build_ohlcv_backfill_job(
    executor_def: ExecutorDefinition, resource_defs: dict[str, object] | None = None
) -> JobDefinition:
    """The fan-out backfill on `executor_def` (the Celery executor, or in-process).

    `resource_defs` binds `timescale` for a job run outside the code location (tests,
    benchmarks); inside it, the Definitions' resources are bound.
    """
    return ohlcv_backfill.to_job(
        name="ohlcv_backfill_job",
        executor_def=executor_def,
        resource_defs=resource_defs,
        tags=BACKFILL_LANE_TAGS,
        description=(
            "Backfill a range of hourly ohlcv partitions as one step per chunk of hours, "
            "fanned out over the Celery workers (QP_DAGSTER_EXECUTOR=celery)."
        ),
    )
