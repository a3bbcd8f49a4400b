"""Attach the optional parts of the daemon that need I/O to build (alert loop, funding)."""

from __future__ import annotations

import asyncio

from quant_platform.alerts.wiring import build_alert_loop
from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon


async def attach_alerts(daemon: IngestionDaemon, settings: Settings) -> None:
    """The 500 ms alert engine reads the live analytics snapshot in process (no Redis hop).

    It reads `fresh_snapshot`: once the analytics task stops producing (it died
    and is restarting), alerts see no metrics rather than a stale picture.
    """
    daemon.alert_loop = await asyncio.to_thread(
        build_alert_loop, settings, daemon.live.fresh_snapshot
    )


def attach_funding(daemon: IngestionDaemon, settings: Settings) -> None:
    """Funding rates: REST backfill at start and hourly, the @markPrice stream in between."""
    from quant_platform.ingestion.funding_stream import run_funding

    async def funding(stop: asyncio.Event) -> None:
        await run_funding(
            settings.database_url, settings.feed_url, settings.rest_url, settings.symbols, stop
        )

    daemon.side_tasks.append(("funding", funding))


def attach_open_bars(daemon: IngestionDaemon, settings: Settings) -> None:
    """The open hour's OHLCV bars, rebuilt every QP_OPEN_BARS_INTERVAL_S (0: not at all),
    so Dagster materialises each hour once, after it closes, instead of twice a minute."""
    if settings.open_bars_interval_s <= 0:
        return
    from quant_platform.ingestion.open_bars import keep_open_hour_bars

    async def open_bars(stop: asyncio.Event) -> None:
        await keep_open_hour_bars(settings.database_url, stop, settings.open_bars_interval_s)

    daemon.side_tasks.append(("open-bars", open_bars))
