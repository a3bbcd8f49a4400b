"""Each data-quality check passes on good data and fails on seeded bad data."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, Definitions
from orch_seed import copy_trades, seed_frame, synthetic_trades

from quant_platform.orchestration.ohlcv import ohlcv, resample_window
from quant_platform.orchestration.quality import ohlcv_checks, quality_checks_job, trades_checks
from quant_platform.orchestration.quality.checks import (
    CheckWindow,
    SampleConfig,
    ohlcv_consistency,
    ohlcv_matches_trades,
    trades_feed_freshness,
    trades_minutes_without_trades,
    trades_no_duplicates,
)
from quant_platform.orchestration.resources import TimescaleResource
from quant_platform.orchestration.trades import trades

WINDOW = CheckWindow(hours=0.25)


@pytest.fixture()
def good_data(db: psycopg.Connection, settings) -> datetime:
    """20 minutes of dense trades for every symbol up to a second ago, resampled."""
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=20)
    frame = synthetic_trades(list(settings.symbols), start, now - timedelta(seconds=1), 2400)
    seed_frame(db, frame)
    hour = start.replace(minute=0)
    resample_window(db, hour, now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    return start


def test_all_checks_pass_on_good_data_through_the_job(
    good_data: datetime, resources: dict, instance: DagsterInstance
) -> None:
    defs = Definitions(
        assets=[trades, ohlcv],
        asset_checks=[*ohlcv_checks, *trades_checks],
        jobs=[quality_checks_job],
        resources=resources,
    )
    window = {"config": {"hours": 0.25}}
    run_config = {
        "ops": {
            f"{c.check_key.asset_key.to_user_string()}_{c.check_key.name}": window
            for c in (*ohlcv_checks, *trades_checks)
            if c.check_key.name != "trades_feed_freshness"
        }
    }
    result = defs.resolve_job_def("quality_checks_job").execute_in_process(
        run_config=run_config, instance=instance
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {c.check_key.name for c in (*ohlcv_checks, *trades_checks)}
    failed = {n: e.metadata for n, e in evaluations.items() if not e.passed}
    assert not failed
    assert evaluations["ohlcv_matches_trades"].metadata["buckets_sampled"].value == 5


def test_ohlc_consistency_fails_on_inverted_bar(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    ts: TimescaleResource = resources["timescale"]
    db.execute(
        "UPDATE ohlcv SET high = low - 1 WHERE bucket = %s AND symbol = 'BTCUSDT' "
        "AND interval = '1m'",
        (good_data + timedelta(minutes=12),),
    )
    result = ohlcv_consistency(config=WINDOW, timescale=ts)
    assert not result.passed and result.metadata["bad_ohlc"].value == 1
    db.execute(
        "UPDATE ohlcv SET high = low + 1, volume = -1 WHERE bucket = %s",
        (good_data + timedelta(minutes=13),),
    )
    result = ohlcv_consistency(config=WINDOW, timescale=ts)
    assert not result.passed and result.metadata["bad_volume"].value >= 1


def test_bars_disagreeing_with_trades_fail(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    ts: TimescaleResource = resources["timescale"]
    every_bar = SampleConfig(hours=0.25, samples=10_000)
    assert ohlcv_matches_trades(config=every_bar, timescale=ts).passed
    db.execute(
        "UPDATE ohlcv SET trade_count = trade_count + 1 WHERE bucket = %s "
        "AND symbol = 'ETHUSDT' AND interval = '1m'",
        (good_data + timedelta(minutes=12),),
    )
    result = ohlcv_matches_trades(config=every_bar, timescale=ts)
    assert not result.passed and result.metadata["mismatches"].value == 1
    assert "ETHUSDT" in result.metadata["mismatched_bars"].value[0]


def test_duplicate_trade_ids_fail(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    ts: TimescaleResource = resources["timescale"]
    assert trades_no_duplicates(config=WINDOW, timescale=ts).passed
    tid, t = db.execute(
        "SELECT trade_id, time FROM trades WHERE symbol = 'SOLUSDT' ORDER BY time DESC LIMIT 1"
    ).fetchone()
    copy_trades(db, [(t + timedelta(milliseconds=3), "SOLUSDT", tid, 10.0, 1.0, True)])
    result = trades_no_duplicates(config=WINDOW, timescale=ts)
    assert not result.passed and result.metadata["by_symbol"].value == {"SOLUSDT": 1}


def test_minutes_without_trades_warn(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    ts, platform = resources["timescale"], resources["platform"]
    assert trades_minutes_without_trades(config=WINDOW, timescale=ts, platform=platform).passed
    gap = good_data + timedelta(minutes=10)
    db.execute(
        "DELETE FROM trades WHERE symbol = 'BNBUSDT' AND time >= %s AND time < %s",
        (gap, gap + timedelta(minutes=2)),
    )
    result = trades_minutes_without_trades(config=WINDOW, timescale=ts, platform=platform)
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert result.metadata["by_symbol"].value["BNBUSDT"] == 2
    assert result.metadata["by_symbol"].value["BTCUSDT"] == 0


def test_minutes_without_trades_count_from_the_first_trade(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    """A 24 h window over 20 minutes of data: the 23 h before the first trade are not gaps."""
    ts, platform = resources["timescale"], resources["platform"]
    result = trades_minutes_without_trades(
        config=CheckWindow(hours=24), timescale=ts, platform=platform
    )
    assert result.passed, result.metadata["by_symbol"].value
    assert 18 <= result.metadata["minutes_checked"].value <= 22
    # A symbol with no trade in the window at all is charged the whole window.
    db.execute("DELETE FROM trades WHERE symbol = 'SOLUSDT'")
    result = trades_minutes_without_trades(
        config=CheckWindow(hours=1), timescale=ts, platform=platform
    )
    assert not result.passed and result.metadata["by_symbol"].value["SOLUSDT"] >= 59


def test_feed_freshness_errors_when_newest_trade_is_old(
    good_data: datetime, db: psycopg.Connection, resources: dict
) -> None:
    ts, platform = resources["timescale"], resources["platform"]
    assert trades_feed_freshness(timescale=ts, platform=platform).passed
    db.execute(
        "DELETE FROM trades WHERE symbol = 'BTCUSDT' AND time > now() - %s::interval",
        (timedelta(seconds=platform.feed_max_age_s + 30),),
    )
    result = trades_feed_freshness(timescale=ts, platform=platform)
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert result.metadata["stale_symbols"].value == ["BTCUSDT"]
