"""A job for the Celery test: workers load it by module path (reconstructable)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from dagster import (
    In,
    JobDefinition,
    Nothing,
    graph,
    in_process_executor,
    job,
    op,
)

from quant_platform.orchestration.celery.executor import qp_celery_executor
from quant_platform.orchestration.resources import TimescaleResource
from quant_platform.storage.ohlcv_resample import resample_window


@op(ins={"start": In(Nothing)})
def where(context) -> int:  # noqa: ANN001 - dagster context
    """Hold the worker a moment so the other worker takes the next step; say which pid."""
    time.sleep(1.0)
    context.log.info(f"step ran in pid {os.getpid()}")
    return os.getpid()


@op
def go() -> None:
    return None


# the test process's own prefix; its workers get it as QP_REDIS_PREFIX
PREFIX = f"qpcelery{os.getpid()}:"


@job(executor_def=qp_celery_executor(PREFIX))
def spread() -> None:
    g = go()
    for i in range(4):
        where.alias(f"where_{i}")(start=g)


HOURS_START = datetime(2026, 1, 5, 10, tzinfo=UTC)


def _resample_op(i: int):  # noqa: ANN202 - a dagster op definition
    @op(name=f"ohlcv_hour_{i}")
    def resample_hour(context, timescale: TimescaleResource) -> int:  # noqa: ANN001
        """One hourly OHLCV partition: the same storage call the `ohlcv` asset makes."""
        start = HOURS_START + timedelta(hours=i)
        with timescale.connect() as conn:
            written = resample_window(conn, start, start + timedelta(hours=1))
        context.log.info(f"hour {i}: {written} in pid {os.getpid()}")
        return os.getpid()

    return resample_hour


_HOUR_OPS = [_resample_op(i) for i in range(6)]


@graph
def six_hours() -> None:
    for o in _HOUR_OPS:
        o()


def ohlcv_on_celery() -> JobDefinition:
    """The six hourly resamples as one job on the Celery workers (URL in run config)."""
    return six_hours.to_job(
        name="ohlcv_on_celery",
        executor_def=qp_celery_executor(PREFIX),
        resource_defs={"timescale": TimescaleResource.configure_at_launch()},
    )


def ohlcv_in_process() -> JobDefinition:
    """The same six steps in the calling process, as the reference."""
    return six_hours.to_job(
        name="ohlcv_in_process",
        executor_def=in_process_executor,
        resource_defs={"timescale": TimescaleResource.configure_at_launch()},
    )
