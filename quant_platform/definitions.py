"""The Dagster code location: gathers each domain's definitions and binds the resources.

Connection URLs reach the resources as `EnvVar`s, never as values: Dagster then
stores and shows only the variable's name (in the launchpad, the run config and
the job snapshot), so a database password never lands in run storage.
"""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar, in_process_executor

from quant_platform.config import get_settings
from quant_platform.orchestration import (
    alerting,
    backtest,
    ohlcv,
    pair_statistics,
    quality,
    reports,
    retention,
    scheduled_reports,
    screener,
    trades,
)
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)

SECRET_URLS = {"QP_DATABASE_URL": "database_url", "QP_REDIS_URL": "redis_url"}


def build_resources() -> dict[str, object]:
    """The resources, with the URLs as `EnvVar`s.

    A URL that came from `.env` or a default rather than the environment is
    exported first (to this process and the run workers it starts), so the
    EnvVar resolves to exactly what `Settings` validated.

    Raises:
        SettingsError: a QP_* variable is invalid.
    """
    s = get_settings()
    for var, field in SECRET_URLS.items():
        os.environ.setdefault(var, getattr(s, field))
    return {
        "timescale": TimescaleResource(database_url=EnvVar("QP_DATABASE_URL")),
        "redis": RedisResource(redis_url=EnvVar("QP_REDIS_URL"), prefix=s.redis_prefix),
        "platform": PlatformSettingsResource.from_settings(s),
    }


def build_definitions() -> Definitions:
    """The whole code location (tests build their own after changing the environment)."""
    # In-process by default: every job here is one or two SQL-bound steps, and a
    # subprocess per step would cost more than the step on 2 cores.
    domains = (
        trades,
        ohlcv,
        pair_statistics,
        reports,
        retention,
        quality,
        alerting,
        screener,
        backtest,
        scheduled_reports,
    )
    return Definitions.merge(
        Definitions(resources=build_resources(), executor=in_process_executor),
        *(d.defs for d in domains),
    )


defs = build_definitions()
