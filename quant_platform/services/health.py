"""Health of the configured stores, for `qp services status` and the dashboard."""

from __future__ import annotations

import psycopg
import redis

from quant_platform.config import Settings
from quant_platform.domain.coerce import first_line
from quant_platform.domain.service import ServiceStatus


def check_postgres(database_url: str) -> list[ServiceStatus]:
    try:
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            ext = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
            ).fetchone()
            lic = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
            hyper = (
                conn.execute(
                    "SELECT count(*) FROM timescaledb_information.hypertables"
                    " WHERE hypertable_name IN ('trades', 'ohlcv')"
                ).fetchone()
                if ext
                else (0,)
            )
    except psycopg.Error as exc:
        reason = first_line(exc)
        return [
            ServiceStatus("postgresql", False, f"unreachable: {reason}"),
            ServiceStatus("timescaledb", False, "database unreachable"),
        ]
    pg = ServiceStatus("postgresql", True, f"{version.split()[0]}")
    if ext is None:
        return [pg, ServiceStatus("timescaledb", False, "extension missing: run `qp db migrate`")]
    schema = "schema ok" if hyper[0] == 2 else "schema missing: run `qp db migrate`"
    return [pg, ServiceStatus("timescaledb", hyper[0] == 2, f"{ext[0]} license={lic[0]}, {schema}")]


def check_redis(redis_url: str) -> list[ServiceStatus]:
    try:
        info = redis.Redis.from_url(redis_url, socket_timeout=2).info("server")
    except redis.RedisError as exc:
        return [ServiceStatus("redis", False, f"unreachable: {exc}")]
    return [ServiceStatus("redis", True, f"{info['redis_version']}")]


def check_all(settings: Settings) -> list[ServiceStatus]:
    return check_postgres(settings.database_url) + check_redis(settings.redis_url)
