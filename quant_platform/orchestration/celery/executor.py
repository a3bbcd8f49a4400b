"""The platform's Celery executor: steps go to `qp worker` processes over Redis.

The broker URL is read from the environment (QP_REDIS_URL) by the run process, so a
URL with a password never lands in Dagster's run config or logs.
"""

from __future__ import annotations

from typing import Any

from dagster import ExecutorDefinition
from dagster_celery import celery_executor


def transport_options(prefix: str, visibility_timeout_s: float = 600.0) -> dict[str, Any]:
    """Celery settings shared by the workers and the run process (the step producer).

    Keys live under the platform's prefix. Queues are drained in the order a worker
    lists them (`priority`, see `lanes`). A step whose worker died (SIGKILL, lost
    machine) is never acknowledged; the surviving workers put it back on its queue
    once it has been unacknowledged for `visibility_timeout_s`, checking every
    few seconds (kombu's default is an hour, checked every 100 s).
    """
    restore_every = max(1, min(10, int(visibility_timeout_s // 3)))
    broker = {
        "global_keyprefix": f"{prefix}celery:",
        "queue_order_strategy": "priority",
        "visibility_timeout": visibility_timeout_s,
        "unacked_restore_interval": restore_every,
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_transport_options": broker,
        "result_backend_transport_options": {"global_keyprefix": f"{prefix}celery:"},
    }


def qp_celery_executor(
    redis_prefix: str, visibility_timeout_s: float = 600.0
) -> ExecutorDefinition:
    """celery_executor on QP_REDIS_URL (env), keys under `redis_prefix` like the workers."""
    return celery_executor.configured(
        {
            "broker": {"env": "QP_REDIS_URL"},
            "backend": {"env": "QP_REDIS_URL"},
            "config_source": transport_options(redis_prefix, visibility_timeout_s),
        },
        name="qp_celery",
    )


def platform_executor() -> ExecutorDefinition:
    """The executor QP_DAGSTER_EXECUTOR names, for the jobs that fan out (and the resample).

    `in_process` (default): every step in the run process, nothing else to run.
    `celery`: steps on `qp worker` processes (start at least one: `qp up --workers N`).

    Raises:
        SettingsError: a QP_* variable is invalid.
    """
    from dagster import in_process_executor

    from quant_platform.config import get_settings

    s = get_settings()
    if s.dagster_executor == "celery":
        return qp_celery_executor(s.redis_prefix, s.celery_visibility_timeout_s)
    return in_process_executor
