"""The local services are real servers: TimescaleDB hypertables, Redis, restartable."""

from __future__ import annotations

import psycopg
import redis as redis_lib

from quant_platform.services.local import LocalPostgres
from quant_platform.storage.migrate import available_migrations, current_version, migrate


def test_hypertables_exist(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
    names = {r[0] for r in rows}
    assert {"trades", "ohlcv", "pair_statistics"} <= names


def test_trades_chunk_interval_is_one_day(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_name = 'trades'"
        ).fetchone()
    assert row is not None and row[0].days == 1


def test_migrate_twice_changes_nothing(database_url: str) -> None:
    assert migrate(database_url) == []
    assert current_version(database_url) == available_migrations()[-1].version
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert migrate(database_url) == []
    with psycopg.connect(database_url) as conn:
        after = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert before == after == (len(available_migrations()),)


def test_trade_writes_are_idempotent(db: psycopg.Connection) -> None:
    row = (
        "2026-01-01T00:00:00Z",
        "BTCUSDT",
        1,
        60000.0,
        0.1,
        False,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    sql = (
        "INSERT INTO trades (time, symbol, trade_id, price, qty, is_buyer_maker, event_time,"
        " receive_time) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING"
    )
    db.execute(sql, row)
    db.execute(sql, row)
    assert db.execute("SELECT count(*) FROM trades").fetchone() == (1,)


def test_compression_only_with_tsl_license(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        lic = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()[0]
        compressed = conn.execute(
            "SELECT compression_enabled FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'trades'"
        ).fetchone()[0]
    assert compressed == (lic == "timescale")


def test_redis_is_real(redis_url: str, redis_prefix: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    client.xadd(f"{redis_prefix}s", {"a": "1"})
    assert client.xlen(f"{redis_prefix}s") == 1


def test_ephemeral_postgres_stops_and_restarts(ephemeral_postgres: LocalPostgres) -> None:
    status = {s.name: s for s in ephemeral_postgres.status()}
    assert status["postgresql"].up and status["timescaledb"].up
    ephemeral_postgres.stop()
    status = {s.name: s for s in ephemeral_postgres.status()}
    assert not status["postgresql"].up
    ephemeral_postgres.start()
    with psycopg.connect(ephemeral_postgres.url) as conn:
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (0,)
