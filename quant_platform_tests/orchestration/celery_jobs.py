"""A job for the Celery test: workers load it by module path (reconstructable)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from dagster import (
    Definitions,
    EnvVar,
    In,
    JobDefinition,
    Nothing,
    define_asset_job,
    graph,
    in_process_executor,
    job,
    op,
)

from quant_platform.config import get_settings
from quant_platform.orchestration.backtest.sweep_fanout import build_backtest_sweep_fanout_job
from quant_platform.orchestration.celery.executor import qp_celery_executor
from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.ohlcv.backfill import build_ohlcv_backfill_job
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.orchestration.screener.fanout import build_pair_screen_fanout_job
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


# --- the platform's own jobs, on the test's prefix ---------------------------------
# Workers get the same value as QP_CELERY_VISIBILITY_TIMEOUT_S: a step unacknowledged
# this long (its worker was killed) goes back to its queue.
VISIBILITY_S = 20.0


def _timescale_from_env() -> TimescaleResource:
    return TimescaleResource(database_url=EnvVar("QP_DATABASE_URL"))


def ohlcv_backfill_on_celery() -> JobDefinition:
    """The real fan-out backfill job on the two test workers."""
    return build_ohlcv_backfill_job(
        qp_celery_executor(PREFIX, VISIBILITY_S), {"timescale": _timescale_from_env()}
    )


def ohlcv_range_in_process() -> JobDefinition:
    """The `ohlcv` asset's own path: a partition range as one run, one step, in-process."""
    defs = Definitions(
        assets=[ohlcv],
        jobs=[define_asset_job("ohlcv_range", [ohlcv], executor_def=in_process_executor)],
        resources={"timescale": _timescale_from_env()},
    )
    return defs.resolve_job_def("ohlcv_range")


def ohlcv_resample_on_celery() -> JobDefinition:
    """The resample job as QP_DAGSTER_EXECUTOR=celery builds it (the asset's resample lane)."""
    defs = Definitions(
        assets=[ohlcv],
        jobs=[
            define_asset_job(
                "ohlcv_resample_celery",
                [ohlcv],
                executor_def=qp_celery_executor(PREFIX, VISIBILITY_S),
            )
        ],
        resources={"timescale": _timescale_from_env()},
    )
    return defs.resolve_job_def("ohlcv_resample_celery")


def pair_screen_fanout_on_celery() -> JobDefinition:
    """The split pair screen on the test workers."""
    return build_pair_screen_fanout_job(
        qp_celery_executor(PREFIX, VISIBILITY_S),
        {
            "timescale": _timescale_from_env(),
            "platform": PlatformSettingsResource.from_settings(get_settings()),
        },
    )


def backtest_sweep_fanout_on_celery() -> JobDefinition:
    """The split backtest sweep on the test workers (reports under the workers' QP_DATA_DIR)."""
    return build_backtest_sweep_fanout_job(
        qp_celery_executor(PREFIX, VISIBILITY_S),
        {
            "timescale": _timescale_from_env(),
            "platform": PlatformSettingsResource.from_settings(get_settings()),
        },
    )


def ohlcv_backfill_in_process() -> JobDefinition:
    """The same fan-out backfill job with every step in the run process (the reference)."""
    return build_ohlcv_backfill_job(in_process_executor, {"timescale": _timescale_from_env()})
