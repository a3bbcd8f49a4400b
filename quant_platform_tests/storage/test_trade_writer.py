"""TradeWriter against the real database: duplicates never drop the rest of a batch."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest

from quant_platform.domain import Trade
from quant_platform.storage.trade_writer import TradeWriter
from quant_platform_tests.storage.trade_rows import T0
from quant_platform_tests.storage.trade_rows import trades as shared_trades


def trades(n: int, start: int = 1, symbol: str = "BTCUSDT") -> list[Trade]:
    """Fixed receive times and a 3 ms event lag: the row read back is checked field by field."""
    return shared_trades(n, start, symbol, event_lag_ms=3, receive_ns=1_767_225_600_123_456_789)


def count(db: psycopg.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


def test_duplicates_in_the_batch_and_in_the_table(
    db: psycopg.Connection, database_url: str
) -> None:
    writer = TradeWriter(database_url)
    try:
        assert writer.write([]) == 0
        assert writer.write(trades(100)) == 100
        batch = trades(100, start=51)  # 50 already stored, 50 new
        batch += batch[:10] + trades(5, start=51)  # repeats inside the batch itself
        batch += trades(20, start=1, symbol="ETHUSDT")  # same ids, other symbol: new
        assert writer.write(batch) == 70
        assert count(db) == 170
        assert writer.write(batch) == 0  # a replay changes nothing
        assert count(db) == 170
    finally:
        writer.close()


def test_every_column_is_stored_exactly(db: psycopg.Connection, database_url: str) -> None:
    t = Trade(
        "SOLUSDT",
        987654321012,
        151.123456789,
        0.000123,
        T0 + 789,
        T0 + 790,
        True,
        1_767_225_600_791_234_567,
        "aggTrade",
        "LIQUIDATION",
    )
    writer = TradeWriter(database_url)
    assert writer.write([t]) == 1
    writer.close()
    row = db.execute(
        "SELECT time, symbol, trade_id, price, qty, is_buyer_maker, event_time,"
        " receive_time, kind, fill_type FROM trades"
    ).fetchone()
    assert row == (
        datetime(2026, 1, 1, 0, 0, 0, 789000, tzinfo=UTC),
        "SOLUSDT",
        987654321012,
        151.123456789,
        0.000123,
        True,
        datetime(2026, 1, 1, 0, 0, 0, 790000, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 791234, tzinfo=UTC),
        "aggTrade",
        "LIQUIDATION",
    )


def test_a_refused_row_fails_the_batch_cleanly_and_the_writer_goes_on(
    db: psycopg.Connection, database_url: str
) -> None:
    bad = Trade("BTCUSDT", 10_000, -1.0, 1.0, T0, T0, False, time.time_ns())  # CHECK price > 0
    writer = TradeWriter(database_url)
    with pytest.raises(psycopg.IntegrityError):
        writer.write([*trades(10), bad])
    assert count(db) == 0  # nothing of that batch was committed
    assert writer.write(trades(10)) == 10
    writer.close()


def test_database_unreachable_raises_operational_error() -> None:
    writer = TradeWriter("postgresql://qp@127.0.0.1:1/qp", connect_timeout=1)
    with pytest.raises(psycopg.OperationalError):
        writer.write(trades(1))
