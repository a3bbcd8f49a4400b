"""Fixtures that find or start the real servers: PostgreSQL+TimescaleDB and Redis.

The suite uses the project's local services (`qp services start`, or started
here when down) and gives every test session its own freshly migrated database
and Redis key prefix, so concurrent sessions never see each other's rows.
Tests that stop a server get a throwaway instance of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from psycopg import sql

from quant_platform.config import Settings, load_settings
from quant_platform.services.local import (
    LocalPostgres,
    LocalRedis,
    find_pg_bin,
    free_port,
    provision,
)
from quant_platform.storage.migrate import migrate

BASE = load_settings()


def _ensure_installed() -> None:
    if find_pg_bin() is None or not Path("/usr/bin/redis-server").exists():
        provision(BASE.data_dir)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Admin URL (database `postgres`) of a server: QP_TEST_DATABASE_URL or the local one."""
    explicit = os.environ.get("QP_TEST_DATABASE_URL")
    if explicit:
        return explicit
    _ensure_installed()
    pg = LocalPostgres(BASE.data_dir / "postgres", BASE.pg_port, clusters_root=BASE.pg_clusters_dir)
    pg.start()
    return pg.admin_url


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test session, dropped afterwards."""
    name = f"qp_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg_server_url.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture()
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the session database with the data tables emptied first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE trades, ohlcv, pair_statistics, alert_events, alert_rules, pair_screens,"
            " live_pairs, uploaded_trades, uploaded_ohlcv, funding_rates RESTART IDENTITY"
        )
        yield conn


@pytest.fixture(scope="session")
def redis_url() -> str:
    explicit = os.environ.get("QP_TEST_REDIS_URL")
    if explicit:
        return explicit
    _ensure_installed()
    server = LocalRedis(BASE.data_dir / "redis", BASE.redis_port)
    server.start()
    return server.url


@pytest.fixture()
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"qptest:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis_lib.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis_lib.RedisError:
        pass


@pytest.fixture()
def settings(database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> Settings:
    """Settings pointing at the session's real database and Redis, data under tmp_path."""
    return load_settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        data_dir=tmp_path / "qp",
    )


@pytest.fixture()
def ephemeral_postgres() -> Iterator[LocalPostgres]:
    """A throwaway TimescaleDB cluster on a free port, for tests that stop the database.

    As root, its files go where the `postgres` user can reach them (see
    `quant_platform.services.local.cluster_home`); `destroy()` removes them.
    """
    _ensure_installed()
    pg = LocalPostgres(
        BASE.data_dir / "test-clusters" / uuid.uuid4().hex[:8],
        free_port(),
        clusters_root=BASE.pg_clusters_dir,
    )
    pg.start()
    migrate(pg.url)
    yield pg
    pg.destroy()


@pytest.fixture()
def ephemeral_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedis]:
    """A throwaway Redis on a free port, for tests that stop Redis."""
    _ensure_installed()
    server = LocalRedis(tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    yield server
    server.destroy()
