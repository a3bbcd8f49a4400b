"""Dagster resources for the platform's real stores."""

from quant_platform.orchestration.resources.redis import RedisResource
from quant_platform.orchestration.resources.settings import PlatformSettingsResource
from quant_platform.orchestration.resources.timescale import TimescaleResource

__all__ = ["PlatformSettingsResource", "RedisResource", "TimescaleResource"]
