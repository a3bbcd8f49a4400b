"""Keep the still-open hour's OHLCV bars fresh from inside the ingestion daemon.

The brief resamples every 30 s. Doing that as a Dagster run buried every run a
person cares about (two `ohlcv_resample_job` runs a minute), so the daemon, which
writes the trades anyway, rebuilds the current hour's bars with the same SQL as the
`ohlcv` asset (`storage.ohlcv_resample`), and Dagster materialises each hour once,
after it has closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from quant_platform.storage.ohlcv_resample import resample_window

log = logging.getLogger(__name__)


def open_hour(now: float) -> tuple[datetime, datetime]:
    """The hour-aligned window [start, end) that contains `now` (epoch seconds, UTC)."""
    start = datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=1)


def refresh_open_hour(database_url: str, now: float) -> dict[str, int]:
    """Rebuild the open hour's bars from its trades (one transaction); rows per interval.

    Raises:
        psycopg.Error: the database is unreachable or refused the statements.
    """
    start, end = open_hour(now)
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        return resample_window(conn, start, end)


async def keep_open_hour_bars(
    database_url: str,
    stop: asyncio.Event,
    every_s: float,
    clock: Callable[[], float] = time.time,
) -> None:
    """Every `every_s` until `stop`: refresh the open hour. A database outage is logged
    once and retried next time; it never stops the daemon."""
    failing = False
    while not stop.is_set():
        try:
            written = await asyncio.to_thread(refresh_open_hour, database_url, clock())
        except psycopg.Error as exc:
            if not failing:
                log.warning("open-hour bars not refreshed (will retry): %s", exc)
            failing = True
        else:
            if failing:
                log.info("open-hour bars refreshed again")
            failing = False
            log.debug("open-hour bars: %s", written)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        except TimeoutError:
            pass
