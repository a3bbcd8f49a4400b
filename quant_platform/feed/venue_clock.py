"""The venue's clock, read from `/fapi/v1/time`, as an offset from the host clock.

Staleness and "from the future" are judged against the venue's time, not the
host's: a host clock six minutes off would otherwise reject every frame as
`future_time`/`stale_time`, the streams would look silent, and the daemon would
fall back and finally exit. The offset is measured at start and refreshed
periodically; the request's round trip is split evenly (NTP-style midpoint).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

WARN_OFFSET_MS = 1000  # a host clock this far off is worth a log line


class VenueClock:
    """Keeps `offset_ms` (venue minus host) and pushes it to `apply` on every reading."""

    def __init__(
        self,
        read: Callable[[], Awaitable[tuple[int, int]]],
        apply: Callable[[int], None],
        refresh_s: float = 300.0,
    ) -> None:
        self.read = read
        self.apply = apply
        self.refresh_s = refresh_s
        self.offset_ms = 0
        self.readings = 0
        self.failures = 0

    async def sync(self) -> bool:
        """Read the venue clock once; False (offset kept) if it cannot be read."""
        try:
            venue_ms, host_ms = await self.read()
        except Exception as exc:  # noqa: BLE001 - REST down: keep the last offset
            self.failures += 1
            log.warning(
                "venue time (/fapi/v1/time) not read: %s; offset stays %d ms", exc, self.offset_ms
            )
            return False
        offset = venue_ms - host_ms
        if abs(offset) >= WARN_OFFSET_MS and abs(offset - self.offset_ms) >= WARN_OFFSET_MS:
            log.warning(
                "host clock is %+.1f s off the venue's; judging trade times by the venue clock",
                -offset / 1000,
            )
        self.offset_ms = offset
        self.readings += 1
        self.apply(offset)
        return True

    async def run(self) -> None:
        """Refresh forever (the first reading is taken by the caller before streaming)."""
        while True:
            await asyncio.sleep(self.refresh_s if self.readings else min(self.refresh_s, 5.0))
            await self.sync()
