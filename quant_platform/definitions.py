"""The Dagster code location: gathers each domain's definitions and binds the resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from quant_platform.config import get_settings
from quant_platform.orchestration import (
    alerting,
    ohlcv,
    pair_statistics,
    quality,
    reports,
    retention,
    screener,
    trades,
)
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)


def build_resources() -> dict[str, object]:
    s = get_settings()
    return {
        "timescale": TimescaleResource(database_url=s.database_url),
        "redis": RedisResource(redis_url=s.redis_url, prefix=s.redis_prefix),
        "platform": PlatformSettingsResource.from_settings(s),
    }


# In-process by default: every job here is one or two SQL-bound steps, and a
# subprocess per step would cost more than the step on 2 cores.
defs = Definitions.merge(
    Definitions(resources=build_resources(), executor=in_process_executor),
    *(
        d.defs
        for d in (trades, ohlcv, pair_statistics, reports, retention, quality, alerting, screener)
    ),
)
