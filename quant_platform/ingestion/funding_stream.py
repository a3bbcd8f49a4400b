"""Keeps funding_rates live from the `@markPrice` stream (one /market connection).

Each settled rate (see :class:`~quant_platform.feed.funding.FundingRecorder`) is
handed to `sink`; :func:`database_sink` stores it with the same statement as the
REST backfill and `qp import`. A dropped connection reconnects with capped
backoff; the funding time it may have missed is the REST backfill's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import psycopg
import websockets

from quant_platform.domain.funding import FundingRate
from quant_platform.feed.funding import FundingRecorder, decode_mark_price
from quant_platform.storage.funding_store import store_funding_async

log = logging.getLogger(__name__)

Sink = Callable[[FundingRate], Awaitable[None]]


def mark_price_url(ws_base: str, symbols: Sequence[str]) -> str:
    """`{ws_base}/market/stream?streams=btcusdt@markPrice/...` (markPrice is a /market stream)."""
    streams = "/".join(f"{s.lower()}@markPrice" for s in symbols)
    return f"{ws_base.rstrip('/')}/market/stream?streams={streams}"


def database_sink(conn: psycopg.AsyncConnection) -> Sink:
    """A sink that inserts each settled rate (autocommit connection expected)."""

    async def sink(row: FundingRate) -> None:
        await store_funding_async(conn, [row])

    return sink


class FundingStream:
    """Reads mark-price updates and passes settled funding rates to `sink` until stopped."""

    def __init__(
        self, ws_base: str, symbols: Sequence[str], sink: Sink, max_backoff_s: float = 30.0
    ) -> None:
        if not symbols:
            raise ValueError("symbols: at least one symbol is needed for @markPrice")
        self.url = mark_price_url(ws_base, symbols)
        self.sink = sink
        self.max_backoff_s = max_backoff_s
        self.recorder = FundingRecorder()
        self.settled = 0
        self.frames = 0

    async def run(self) -> None:
        """Run until cancelled; reconnects on connection loss."""
        backoff = 0.5
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=10) as ws:
                    backoff = 0.5
                    async for frame in ws:
                        await self._on_frame(frame)
            except (OSError, websockets.WebSocketException) as exc:
                log.warning("markPrice stream: %s; reconnecting in %.1f s", exc, backoff)
            self.recorder.forget()
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff_s, backoff * 2)

    async def _on_frame(self, frame: str | bytes) -> None:
        update = decode_mark_price(frame)
        if update is None:
            return
        self.frames += 1
        row = self.recorder.observe(update)
        if row is not None:
            await self.sink(row)
            self.settled += 1
