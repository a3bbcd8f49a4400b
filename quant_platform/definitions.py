"""The Dagster code location: gathers each domain's definitions and binds the resources."""

from __future__ import annotations

from dagster import Definitions

from quant_platform.config import get_settings
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


defs = Definitions.merge(
    Definitions(resources=build_resources()),
)
