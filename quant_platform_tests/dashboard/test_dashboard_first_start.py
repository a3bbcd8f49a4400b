"""After a first start's seeding, every chart page draws charts and today's report has bars.

The real path: the simulator serves hours of history over REST, `seed_history`
stores and resamples it, Dagster's pair_statistics asset runs once (as its
sensor would), then each dashboard page (AppTest, through the page harness)
renders its default view and the daily report is materialised for today.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from dagster import DagsterInstance, materialize
from page_harness import page_test, run, texts

from quant_platform.cli.seed_cmd import seed_history
from quant_platform.config import Settings, get_settings
from quant_platform.orchestration.pair_statistics import pair_statistics
from quant_platform.orchestration.reports import daily_report
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)
from quant_platform.services.local import free_port
from quant_platform.simulator.server import ExchangeSimulator

HOURS = 3.0  # > the default view's 60-bar z-window and enough bars for the vol regime
NEED_MORE = ("need more data", "not enough", "No 1m bars", "No stored statistics")


@pytest.fixture()
def seeded(settings: Settings, db: psycopg.Connection) -> Iterator[Settings]:
    async def seed() -> None:
        async with ExchangeSimulator(
            list(settings.symbols), history_s=HOURS * 3600, history_rate=4.0
        ) as sim:
            await asyncio.to_thread(
                seed_history, settings, sim.rest_url, HOURS, weight_per_min=100_000
            )

    asyncio.run(asyncio.wait_for(seed(), 180))
    yield settings


def _resources(s: Settings) -> dict[str, object]:
    return {
        "timescale": TimescaleResource(database_url=s.database_url),
        "redis": RedisResource(redis_url=s.redis_url, prefix=s.redis_prefix),
        "platform": PlatformSettingsResource.from_settings(s),
    }


def test_every_tab_has_charts_and_todays_report_has_bars(
    seeded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = seeded
    with DagsterInstance.ephemeral() as instance:
        stats = materialize([pair_statistics], resources=_resources(s), instance=instance)
        (check,) = stats.get_asset_check_evaluations()
        assert check.passed, check.metadata
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        report = materialize(
            [daily_report], partition_key=today, resources=_resources(s), instance=instance
        )
        meta = report.get_asset_materialization_events()[0].materialization.metadata
        # today's report so far: every seeded minute since midnight (UTC)
        now = datetime.now(UTC)
        since_midnight = now.hour * 60 + now.minute
        assert meta["bars"].value >= min(HOURS * 60, since_midnight) - 2
        assert meta["bars"].value > 0 or since_midnight < 2
        assert meta["csv_rows"].value >= 6  # the batch rows just written

    for key, value in {
        "QP_DATABASE_URL": s.database_url,
        "QP_REDIS_URL": s.redis_url,
        "QP_REDIS_PREFIX": s.redis_prefix,
        "QP_DATA_DIR": str(s.data_dir),
        "QP_DAGSTER_PORT": str(free_port()),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        # Pages with charts on their default view, and how many each draws.
        want_charts = {"live_pairs": 4, "symbols": 2, "history": 1, "cross_asset": 1}
        for page, n in want_charts.items():
            if page == "symbols":  # the live page's second (lazy) tab
                at = page_test("live_pairs")
                at.session_state["live_tab"] = "Symbols"
                at = run(at)
            else:
                at = run(page_test(page))
            text = texts(at)
            # the live page's first run draws its candles as a static SVG (first paint)
            first_paint = [m for m in at.markdown if "](data:image/svg+xml;base64," in m.value]
            assert len(at.get("plotly_chart")) + len(first_paint) >= n, (page, text)
            for phrase in NEED_MORE:
                assert phrase not in text, (page, phrase, text)
            if page == "symbols":
                assert "vol regime" in text
    finally:
        get_settings.cache_clear()
