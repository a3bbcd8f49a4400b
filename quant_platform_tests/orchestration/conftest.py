"""Fixtures for the Dagster tests: real resources on the session database and Redis prefix."""

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance

from quant_platform.config import Settings
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)


@pytest.fixture()
def platform(settings: Settings) -> PlatformSettingsResource:
    return PlatformSettingsResource.from_settings(settings)


@pytest.fixture()
def resources(settings: Settings, platform: PlatformSettingsResource) -> dict[str, object]:
    """The code location's resources, pointed at this session's database and Redis prefix."""
    return {
        "timescale": TimescaleResource(database_url=settings.database_url),
        "redis": RedisResource(redis_url=settings.redis_url, prefix=settings.redis_prefix),
        "platform": platform,
    }


@pytest.fixture()
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst
