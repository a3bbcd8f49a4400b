"""Sinks against the real servers: writer idempotence, spool durability, flusher outages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import redis as redis_lib

from quant_platform.config import Settings, load_settings
from quant_platform.services.local import LocalPostgres, LocalRedis
from quant_platform.storage.batch_flusher import BatchFlusher
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import RedisTickSink
from quant_platform.storage.spool import Spool
from quant_platform.storage.tick_buffer import TickBuffer
from quant_platform.storage.trade_writer import TradeWriter
from quant_platform_tests.storage.trade_rows import T0, trades


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])


def test_duplicates_never_drop_the_rest_of_their_batch(
    db: psycopg.Connection, database_url: str
) -> None:
    writer = TradeWriter(database_url)
    assert writer.write(trades(100, start=1)) == 100
    overlap = trades(100, start=51)  # 50 already stored, 50 new
    overlap += overlap[:10]  # and duplicates inside the batch itself
    assert writer.write(overlap) == 50
    assert count(database_url) == 150
    row = db.execute("SELECT price, qty, time FROM trades WHERE trade_id = 120").fetchone()
    t = trades(1, start=120)[0]
    assert row[0] == t.price and row[1] == t.qty
    assert int(row[2].timestamp() * 1000) == t.trade_time_ms
    writer.close()


def test_spool_survives_restart_and_skips_a_torn_tail(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(trades(10))
    spool.append(trades(5, start=11))
    (path,) = sorted(tmp_path.glob("spool-*.bin"))
    with open(path, "ab") as fh:
        fh.write(b"\x40\x00\x00\x00garbage")  # a torn write
    again = Spool(tmp_path)  # a new process
    [(p, batches)] = list(again.segments())
    assert [len(b) for b in batches] == [10, 5]
    assert [t.trade_id for t in batches[1]] == [11, 12, 13, 14, 15]
    assert batches[0][3].price == trades(10)[3].price
    assert again.corrupt_records == 1
    again.remove(p)
    assert not again.has_data()


def test_tick_buffer_keeps_the_last_n_per_symbol() -> None:
    buf = TickBuffer(maxlen=1000)
    for t in trades(2500):
        buf.append(t)
    held = buf.latest("BTCUSDT")
    assert [t.trade_id for t in held] == list(range(1501, 2501))
    assert [t.trade_id for t in buf.latest("BTCUSDT", 3)] == [2498, 2499, 2500]
    arr = buf.recent_arrays("BTCUSDT")
    assert arr["price"].shape == (1000,) and arr["trade_time_ms"][-1] == T0 + 2500


def _flusher_settings(pg_url: str, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {"flush_interval_s": 0.2, "flush_max_rows": 500, **extra}
    return load_settings(database_url=pg_url, data_dir=tmp_path, **values)


def test_flusher_holds_then_spools_while_db_is_down(
    ephemeral_postgres: LocalPostgres, tmp_path: Path
) -> None:
    """PostgreSQL stopped mid-stream, then started: every row lands once, none lost."""
    s = _flusher_settings(ephemeral_postgres.url, tmp_path, spool_memory_rows=1000)
    batches = [trades(500, start=1 + 500 * k) for k in range(10)]

    async def run() -> BatchFlusher:
        flusher = BatchFlusher(s)
        await flusher.start()
        for b in batches[:3]:
            for t in b:
                flusher.add(t)
            await asyncio.sleep(0.3)
        await asyncio.to_thread(ephemeral_postgres.stop)
        for b in batches[3:8]:
            for t in b:
                flusher.add(t)
            await asyncio.sleep(0.4)
        assert not flusher.db_up
        assert flusher.spooled_rows > 0  # beyond 1,000 rows in memory, the rest on disk
        assert flusher.pending <= 1500
        await asyncio.to_thread(ephemeral_postgres.start)
        for b in batches[8:]:
            for t in b:
                flusher.add(t)
        deadline = time.monotonic() + 20
        while (flusher.pending or flusher.spool.has_data()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await flusher.close()
        return flusher

    flusher = asyncio.run(run())
    assert flusher.db_up and flusher.drained_rows > 0
    assert count(ephemeral_postgres.url) == 5000
    with psycopg.connect(ephemeral_postgres.url) as conn:
        assert conn.execute("SELECT count(DISTINCT trade_id) FROM trades").fetchone()[0] == 5000


def test_close_with_db_down_spools_and_next_start_drains(
    ephemeral_postgres: LocalPostgres, tmp_path: Path
) -> None:
    s = _flusher_settings(ephemeral_postgres.url, tmp_path, flush_interval_s=60)

    async def first_life() -> None:
        flusher = BatchFlusher(s)
        await flusher.start()
        for t in trades(700):
            flusher.add(t)
        await asyncio.to_thread(ephemeral_postgres.stop)
        for t in trades(300, start=701):
            flusher.add(t)
        await flusher.close()  # SIGTERM while the database is down

    asyncio.run(first_life())
    assert Spool(tmp_path / "spool").has_data()
    ephemeral_postgres.start()

    async def second_life() -> None:
        flusher = BatchFlusher(s)
        await flusher.start()
        await flusher.flush()
        await flusher.close()

    asyncio.run(second_life())
    assert count(ephemeral_postgres.url) == 1000
    assert not Spool(tmp_path / "spool").has_data()


def test_redis_sink_survives_redis_outage(
    ephemeral_redis: LocalRedis, redis_prefix: str, tmp_path: Path
) -> None:
    s = load_settings(redis_url=ephemeral_redis.url, redis_prefix=redis_prefix, data_dir=tmp_path)
    keys = RedisKeys(redis_prefix)
    client = redis_lib.Redis.from_url(ephemeral_redis.url)

    async def run() -> RedisTickSink:
        sink = RedisTickSink(s)
        await sink.start()
        for t in trades(300):
            sink.add(t)
        await asyncio.sleep(0.3)
        assert client.xlen(keys.ticks("BTCUSDT")) == 300
        assert 0 < client.ttl(keys.last_trade("BTCUSDT")) <= 60
        await asyncio.to_thread(ephemeral_redis.stop)
        for t in trades(200, start=301):
            sink.add(t)  # never raises, never blocks
        await asyncio.sleep(0.5)
        assert not sink.up and sink.dropped > 0
        await asyncio.to_thread(ephemeral_redis.start)
        deadline = time.monotonic() + 10
        start = 501
        while not sink.up and time.monotonic() < deadline:
            for t in trades(10, start=start):
                sink.add(t)
            start += 10
            await asyncio.sleep(0.2)
        await sink.close()
        return sink

    sink = asyncio.run(run())
    assert sink.up
    assert sink.written >= 300
