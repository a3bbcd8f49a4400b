"""Fixtures for the Dagster tests: real resources on the session database and Redis prefix."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from quant_platform.config import Settings
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)
from quant_platform_tests.orchestration.celery_workers import start_workers, stop_workers


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


@pytest.fixture()
def workers(settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen]]:
    """Two real `qp worker` processes on the test's Redis prefix and database."""
    procs = start_workers(settings, tmp_path)
    try:
        yield procs
    finally:
        stop_workers(procs)
