"""The daemon keeps the open hour's bars fresh without Dagster runs (real TimescaleDB)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.ingestion.open_bars import keep_open_hour_bars, open_hour
from quant_platform.ingestion.wiring import attach_open_bars
from quant_platform.services.local import free_port

NOW = datetime(2026, 3, 2, 14, 20, 7, tzinfo=UTC)


def _trade(db: psycopg.Connection, t: datetime, trade_id: int, price: float) -> None:
    db.execute(
        "INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time,"
        " receive_time) VALUES (%s, 'BTCUSDT', %s, %s, 0.5, false, %s, %s)",
        (t, trade_id, price, t, t),
    )


def test_open_hour_is_the_hour_containing_now() -> None:
    start, end = open_hour(NOW.timestamp())
    assert start == datetime(2026, 3, 2, 14, tzinfo=UTC) and end - start == timedelta(hours=1)


def test_loop_rebuilds_only_the_open_hour(db: psycopg.Connection, settings: Settings) -> None:
    hour = datetime(2026, 3, 2, 14, tzinfo=UTC)
    _trade(db, hour - timedelta(seconds=30), 1, 100.0)  # the closed hour: Dagster's
    _trade(db, hour + timedelta(minutes=5, seconds=1), 2, 101.0)
    _trade(db, hour + timedelta(minutes=5, seconds=40), 3, 103.0)
    _trade(db, hour + timedelta(minutes=19), 4, 102.0)

    async def one_pass() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            keep_open_hour_bars(settings.database_url, stop, 0.05, clock=NOW.timestamp)
        )
        while db.execute("SELECT count(*) FROM ohlcv").fetchone() == (0,):
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(one_pass())
    rows = db.execute(
        "SELECT interval, bucket, open, high, close, trade_count FROM ohlcv"
        " ORDER BY interval, bucket"
    ).fetchall()
    assert rows == [
        ("1h", hour, 101.0, 103.0, 102.0, 3),
        ("1m", hour + timedelta(minutes=5), 101.0, 103.0, 103.0, 2),
        ("1m", hour + timedelta(minutes=19), 102.0, 102.0, 102.0, 1),
        ("5m", hour + timedelta(minutes=5), 101.0, 103.0, 103.0, 2),
        ("5m", hour + timedelta(minutes=15), 102.0, 102.0, 102.0, 1),
    ]


def test_database_down_is_logged_once_and_never_ends_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"postgresql://qp@127.0.0.1:{free_port()}/qp"

    async def run() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(keep_open_hour_bars(url, stop, 0.01))
        while len([r for r in caplog.records if "open-hour bars" in r.message]) < 1:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # more failed passes: still one warning
        alive = not task.done()
        stop.set()
        await task
        return alive

    with caplog.at_level(logging.WARNING, logger="quant_platform.ingestion.open_bars"):
        assert asyncio.run(run())
    assert len([r for r in caplog.records if "not refreshed" in r.message]) == 1


def test_wiring_attaches_it_unless_switched_off(settings: Settings) -> None:
    daemon = IngestionDaemon(settings, metrics_port=0)
    attach_open_bars(daemon, settings)
    assert [name for name, _ in daemon.side_tasks] == ["open-bars"]
    off = settings.model_copy(update={"open_bars_interval_s": 0})
    daemon = IngestionDaemon(off, metrics_port=0)
    attach_open_bars(daemon, off)
    assert daemon.side_tasks == []
