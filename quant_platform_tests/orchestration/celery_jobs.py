"""A job for the Celery test: workers load it by module path (reconstructable)."""

from __future__ import annotations

import os
import time

from dagster import In, Nothing, job, op

from quant_platform.orchestration.celery.executor import qp_celery_executor


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
