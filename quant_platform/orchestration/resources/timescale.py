"""TimescaleDB as a Dagster resource: assets get a real connection, tests point it anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource


class TimescaleResource(ConfigurableResource):
    """Connection factory for the platform database (QP_DATABASE_URL)."""

    database_url: str

    @contextmanager
    def connect(self, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A short-lived connection; commits on success, rolls back on error."""
        with psycopg.connect(self.database_url, autocommit=autocommit, connect_timeout=10) as conn:
            yield conn

    def license(self) -> str:
        """TimescaleDB license ('timescale' enables compression; 'apache' does not)."""
        with self.connect() as conn:
            row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
        return str(row[0]) if row and row[0] else "unknown"
