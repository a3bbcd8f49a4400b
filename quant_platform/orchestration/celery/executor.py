"""The platform's Celery executor: steps go to `qp worker` processes over Redis.

The broker URL is read from the environment (QP_REDIS_URL) by the run process, so a
URL with a password never lands in Dagster's run config or logs.
"""

from __future__ import annotations

from dagster import ExecutorDefinition
from dagster_celery import celery_executor


def transport_options(prefix: str) -> dict[str, dict[str, str]]:
    """Celery settings that keep broker queues and results under the platform's prefix."""
    opts = {"global_keyprefix": f"{prefix}celery:"}
    return {
        "broker_transport_options": dict(opts),
        "result_backend_transport_options": dict(opts),
    }


def qp_celery_executor(redis_prefix: str) -> ExecutorDefinition:
    """celery_executor on QP_REDIS_URL (env), keys under `redis_prefix` like the workers."""
    return celery_executor.configured(
        {
            "broker": {"env": "QP_REDIS_URL"},
            "backend": {"env": "QP_REDIS_URL"},
            "config_source": transport_options(redis_prefix),
        },
        name="qp_celery",
    )
