"""BatchFlusher against the real database: triggers, close, outages, spool, bad rows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
from prometheus_client import CollectorRegistry

from quant_platform.config import Settings, load_settings
from quant_platform.domain import Trade
from quant_platform.services.local import LocalPostgres
from quant_platform.storage.batch_flusher import BatchFlusher
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.spool import Spool
from quant_platform_tests.storage.trade_rows import T0, trades


def count(url: str) -> tuple[int, int]:
    """(rows, distinct trade ids) in `trades`."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (symbol, trade_id)) FROM trades"
        ).fetchone()
        return int(row[0]), int(row[1])  # type: ignore[index]


async def wait_for(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_n_trades_make_exactly_n_rows_with_size_trigger(
    settings: Settings, db: psycopg.Connection
) -> None:
    s = settings.model_copy(update={"flush_interval_s": 60.0, "flush_max_rows": 500})
    reg = CollectorRegistry()

    async def run() -> BatchFlusher:
        flusher = BatchFlusher(s, StorageMetrics(reg))
        await flusher.start()
        for t in trades(499):
            flusher.add(t)
        await asyncio.sleep(0.3)
        assert flusher.flushed_rows == 0  # under the size and long before the interval
        flusher.add(trades(1, start=500)[0])  # the 500th trade wakes the flusher at once
        assert await wait_for(lambda: flusher.flushed_rows == 500, 5)
        for t in trades(2000, start=501):
            flusher.add(t)
        assert await wait_for(lambda: flusher.flushed_rows == 2500, 10)
        for t in trades(100, start=1):  # a replay: stored once only
            flusher.add(t)
        await flusher.close()
        return flusher

    f = asyncio.run(run())
    assert count(s.database_url) == (2500, 2500)
    assert (f.flushed_rows, f.inserted_rows, f.duplicate_rows) == (2600, 2500, 100)
    assert f.pending == 0 and f.db_up and f.spooled_rows == 0 and f.last_flush_s > 0
    assert reg.get_sample_value("qp_flusher_rows_total", {"outcome": "inserted"}) == 2500
    assert reg.get_sample_value("qp_flusher_rows_total", {"outcome": "duplicate"}) == 100
    assert reg.get_sample_value("qp_flusher_db_up") == 1
    assert reg.get_sample_value("qp_sink_latency_seconds_count", {"sink": "db"}) >= 2


def test_interval_trigger_and_close_flushes_pending(
    settings: Settings, db: psycopg.Connection
) -> None:
    s = settings.model_copy(update={"flush_interval_s": 0.2, "flush_max_rows": 100_000})

    async def run() -> None:
        flusher = BatchFlusher(s)
        await flusher.start()
        for t in trades(10):
            flusher.add(t)
        assert await wait_for(lambda: flusher.flushed_rows == 10, 3)  # the interval fired
        slow = BatchFlusher(s.model_copy(update={"flush_interval_s": 300.0}))
        await slow.start()
        for t in trades(700, start=11):
            slow.add(t)
        assert slow.pending == 700
        await slow.close()  # SIGTERM: everything pending is written before close returns
        assert slow.pending == 0 and slow.inserted_rows == 700
        await flusher.close()

    asyncio.run(run())
    assert count(s.database_url) == (710, 710)


def test_rows_the_database_refuses_are_isolated_and_the_rest_stored(
    settings: Settings, db: psycopg.Connection
) -> None:
    s = settings.model_copy(update={"flush_interval_s": 60.0})
    good = trades(300)
    bad = [Trade("BTCUSDT", 10_000 + i, -1.0, 1.0, T0, T0, False, time.time_ns()) for i in range(2)]
    batch = good[:100] + [bad[0]] + good[100:250] + [bad[1]] + good[250:]

    async def run() -> BatchFlusher:
        flusher = BatchFlusher(s)
        await flusher.start()
        for t in batch:
            flusher.add(t)
        await flusher.close()
        return flusher

    f = asyncio.run(run())
    assert count(s.database_url) == (300, 300)
    assert f.rejected_rows == 2 and f.db_up and f.pending == 0
    kept = [t.trade_id for b in Spool(f.rejected_dir).iter_batches() for t in b.trades]
    assert kept == [10_000, 10_001]


def test_database_outage_holds_spools_drains_and_survives_restart(
    ephemeral_postgres: LocalPostgres, tmp_path: Path
) -> None:
    """PostgreSQL stopped mid-stream, then started: every row lands exactly once.

    Then a second outage ends with close() while the database is down (SIGTERM):
    the spool carries the rows over to the next process, which drains them.
    """
    url = ephemeral_postgres.url
    s = load_settings(
        database_url=url,
        data_dir=tmp_path,
        flush_interval_s=0.1,
        flush_max_rows=250,
        spool_memory_rows=1000,
    )
    batches = [trades(250, start=1 + 250 * k) for k in range(24)]  # 6,000 trades

    async def first_life() -> BatchFlusher:
        flusher = BatchFlusher(s, retry_base_s=0.1, retry_cap_s=0.5)
        await flusher.start()
        for b in batches[:4]:
            flusher.add_many(b)
            await asyncio.sleep(0.05)
        assert await wait_for(lambda: flusher.flushed_rows == 1000, 5)
        await asyncio.to_thread(ephemeral_postgres.stop)
        for b in batches[4:16]:  # 3,000 trades while down: 1,000 in memory, the rest spooled
            flusher.add_many(b)
            await asyncio.sleep(0.05)
        assert await wait_for(lambda: flusher.pending <= 1000 and not flusher.db_up, 5)
        assert flusher.spooled_rows >= 2000 and flusher.spool.has_data()
        assert flusher.pending + flusher.spool_rows == 3000
        await asyncio.to_thread(ephemeral_postgres.start)
        for b in batches[16:20]:
            flusher.add_many(b)
        assert await wait_for(
            lambda: flusher.db_up and flusher.pending == 0 and flusher.spool_rows == 0, 20
        )
        assert not flusher.spool.has_data()
        assert count(url) == (5000, 5000)
        assert flusher.drained_rows == flusher.spooled_rows

        await asyncio.to_thread(ephemeral_postgres.stop)  # second outage, then SIGTERM
        for b in batches[20:]:
            flusher.add_many(b)
        await flusher.close()
        return flusher

    f = asyncio.run(first_life())
    assert not f.db_up and f.pending == 0
    assert Spool(s.spool_dir).rows() == 1000
    ephemeral_postgres.start()

    async def second_life() -> BatchFlusher:
        flusher = BatchFlusher(s)
        await flusher.start()  # drains the previous process's spool first
        assert await wait_for(lambda: flusher.spool_rows == 0, 10)
        await flusher.close()
        return flusher

    g = asyncio.run(second_life())
    assert g.drained_rows == 1000 and g.duplicate_rows == 0
    assert count(url) == (6000, 6000)
    assert not Spool(s.spool_dir).has_data()


def test_database_slower_than_the_feed_spills_to_the_spool_and_loses_nothing(
    settings: Settings, db: psycopg.Connection
) -> None:
    """A real lock holds every INSERT while 5,000 trades arrive: memory stays bounded.

    The database stays up (no timeout, no error), so only the memory bound can
    push rows to the spool; once the lock goes, everything lands exactly once.
    """
    s = settings.model_copy(
        update={"flush_interval_s": 0.05, "flush_max_rows": 100, "spool_memory_rows": 1000}
    )

    async def run() -> tuple[BatchFlusher, int, bool]:
        flusher = BatchFlusher(s)
        await flusher.start()
        flusher.add_many(trades(200))
        assert await wait_for(lambda: flusher.flushed_rows == 200, 5)
        locker = await psycopg.AsyncConnection.connect(s.database_url)
        await locker.execute("LOCK TABLE trades IN SHARE ROW EXCLUSIVE MODE")  # blocks INSERT
        peak, always_up = 0, True
        for k in range(50):  # 5,000 trades while every write waits on the lock
            for t in trades(100, start=201 + 100 * k):
                flusher.add(t)
            peak = max(peak, flusher.pending)
            always_up = always_up and flusher.db_up
            # The bound holds up to what arrives during one spool write (an fsync): pace
            # this feed by the spill, so the check does not depend on the disk's speed.
            assert await wait_for(lambda: flusher._overflow is None, 10)  # noqa: SLF001
        assert flusher.spooled_rows > 0 and flusher.flushed_rows == 200
        await locker.rollback()
        await locker.close()
        assert await wait_for(
            lambda: flusher.pending == 0 and flusher.spool_rows == 0 and flusher.db_up, 20
        )
        await flusher.close()
        return flusher, peak, always_up

    f, peak, always_up = asyncio.run(run())
    assert peak <= s.spool_memory_rows + s.flush_max_rows, peak
    assert always_up and f.dropped_rows == 0
    assert f.drained_rows == f.spooled_rows >= 3000
    assert count(s.database_url) == (5200, 5200)
    assert not f.spool.has_data()


# A statement that inserts more than 100 rows stalls for a minute, one of up to 100 is
# instant: the row count in the transaction decides, not the host's speed.
SLOW_TRIGGER = """
CREATE OR REPLACE FUNCTION qp_test_slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int := coalesce(nullif(current_setting('qp_test.rows', true), ''), '0')::int + 1;
BEGIN
    PERFORM set_config('qp_test.rows', n::text, true);
    IF NEW.symbol = 'SLOWUSDT' AND n > 100 THEN PERFORM pg_sleep(60); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER qp_test_slow BEFORE INSERT ON trades
    FOR EACH ROW EXECUTE FUNCTION qp_test_slow_row();
"""


def test_statement_timeout_splits_the_batch_and_keeps_the_database_up(
    settings: Settings, db: psycopg.Connection
) -> None:
    """Over 100 rows a statement outruns the 2 s timeout: 400 splits to 200s, then 100s land."""
    s = settings.model_copy(
        update={"flush_interval_s": 60.0, "flush_max_rows": 400, "db_statement_timeout_s": 2.0}
    )
    db.execute(SLOW_TRIGGER)
    try:

        async def run() -> BatchFlusher:
            flusher = BatchFlusher(s)
            await flusher.start()
            flusher.add_many(trades(400, symbol="SLOWUSDT"))
            assert await wait_for(lambda: flusher.flushed_rows == 400, 60)
            assert flusher.db_up and flusher.pending == 0
            await flusher.close()
            return flusher

        f = asyncio.run(run())
    finally:
        db.execute("DROP TRIGGER qp_test_slow ON trades; DROP FUNCTION qp_test_slow_row()")
    assert f.timeouts == 3  # the 400, then both 200s
    assert f.batches == 4 and f.inserted_rows == 400  # four batches of 100
    assert count(s.database_url) == (400, 400)


def test_spool_alarm_before_its_limit_and_drops_counted_at_it(
    ephemeral_postgres: LocalPostgres, tmp_path: Path
) -> None:
    """Database down, spool limited to 1 MiB: alarm at half, then drops that are counted."""
    reg = CollectorRegistry()
    s = load_settings(
        database_url=ephemeral_postgres.url,
        data_dir=tmp_path,
        flush_interval_s=0.05,
        flush_max_rows=500,
        spool_memory_rows=1000,
        spool_max_bytes=1 << 20,
        spool_alarm_fraction=0.5,
    )
    ephemeral_postgres.stop()

    async def run() -> tuple[BatchFlusher, bool]:
        flusher = BatchFlusher(s, StorageMetrics(reg), retry_base_s=5, retry_cap_s=5)
        await flusher.start()
        alarm_before_drop = False
        n = 0
        while flusher.dropped_rows == 0 and n < 200_000:
            flusher.add_many(trades(500, start=1 + n))
            n += 500
            await asyncio.sleep(0.01)
            if flusher.spool_alarm and flusher.dropped_rows == 0:
                alarm_before_drop = True
        assert flusher.pending <= s.spool_memory_rows + s.flush_max_rows
        flusher._closing = True  # noqa: SLF001 - stop without waiting for the database
        return flusher, alarm_before_drop

    f, alarm_before_drop = asyncio.run(run())
    assert alarm_before_drop
    assert f.dropped_rows > 0 and f.spool_bytes <= s.spool_max_bytes
    assert reg.get_sample_value("qp_flusher_spool_alarm") == 1
    assert reg.get_sample_value("qp_flusher_rows_total", {"outcome": "dropped"}) == f.dropped_rows
    assert Spool(s.spool_dir).size_bytes() <= s.spool_max_bytes


def test_numbers_out_of_range_cost_one_row_each_never_wedge_the_writer_or_spool(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """E >= 2**63 fails COPY's int8 (OverflowError), 2**64 even the spool's encoder."""
    good = trades(200)
    huge_e = Trade("BTCUSDT", 50_000, 1.0, 1.0, T0, 2**63, False, time.time_ns())
    huger_e = Trade("BTCUSDT", 50_001, 1.0, 1.0, T0, 2**64, False, time.time_ns())
    batch = good[:50] + [huge_e] + good[50:120] + [huger_e] + good[120:]

    async def db_up() -> BatchFlusher:
        flusher = BatchFlusher(settings.model_copy(update={"flush_interval_s": 60.0}))
        await flusher.start()
        flusher.add_many(batch)
        await flusher.close()
        return flusher

    f = asyncio.run(db_up())
    assert count(settings.database_url) == (200, 200)
    assert f.rejected_rows == 2 and f.db_up and f.pending == 0
    assert "50001" in (f.rejected_dir / "unencodable.txt").read_text()

    # Database unreachable: the backlog spills to the spool; the unencodable row is
    # dead-lettered alone and everything else is spooled (nothing stays wedged in memory).
    down = load_settings(
        database_url="postgresql://qp@127.0.0.1:1/none",
        data_dir=tmp_path,
        flush_interval_s=0.05,
        spool_memory_rows=1000,
    )

    async def db_down() -> BatchFlusher:
        flusher = BatchFlusher(down, retry_base_s=0.05, retry_cap_s=0.1)
        await flusher.start()
        flusher.add_many(batch)
        await flusher.close()
        return flusher

    g = asyncio.run(db_down())
    assert g.pending == 0
    assert Spool(down.spool_dir).rows() == 201  # 200 good + E = 2**63 (encodable, not COPY-able)
    assert g.rejected_rows == 1
    assert "50001" in (g.rejected_dir / "unencodable.txt").read_text()
