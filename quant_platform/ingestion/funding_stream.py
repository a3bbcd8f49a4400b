"""Keeps funding_rates live from the `@markPrice` stream (one /market connection).

Each settled rate (see :class:`~quant_platform.feed.funding.FundingRecorder`) is
handed to `sink`; :func:`database_sink` stores it with the same statement as the
REST backfill and `qp import`. A dropped connection reconnects with capped
backoff; the funding time it may have missed is the REST backfill's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import psycopg
import websockets

from quant_platform.domain.funding import FundingRate
from quant_platform.feed.backfill import BackfillError
from quant_platform.feed.funding import FundingBackfiller, FundingRecorder, decode_mark_price
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
        self.connections = 0
        self.settled_since_connect = 0
        self.last_settled_ms = 0

    async def run(self) -> None:
        """Run until cancelled; reconnects on connection loss."""
        backoff = 0.5
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=10) as ws:
                    backoff = 0.5
                    self.connections += 1
                    self.settled_since_connect = 0
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
            self.settled_since_connect += 1
            self.last_settled_ms = max(self.last_settled_ms, row.funding_time_ms)


async def backfill_funding(
    conn: psycopg.AsyncConnection,
    rest_url: str,
    symbols: Sequence[str],
    now_ms: int,
    first_days: float = 30.0,
    since_ms: int | None = None,
) -> int:
    """Fetch each symbol's funding since its newest stored row (or `first_days` back).

    ``since_ms`` overrides the start (a catch-up over a span that may have holes).
    Returns rows stored. REST failures are logged and skipped: the next run retries.
    """
    stored = 0
    async with FundingBackfiller(rest_url) as bf:
        for sym in symbols:
            cur = await conn.execute(
                "SELECT (extract(epoch FROM max(funding_time)) * 1000)::int8"
                " FROM funding_rates WHERE symbol = %s",
                (sym,),
            )
            row = await cur.fetchone()
            last = row[0] if row and row[0] is not None else None
            start = last + 1 if last is not None else now_ms - int(first_days * 86_400_000)
            if since_ms is not None:
                start = since_ms
            try:
                rows = await bf.fetch_funding(sym, start, now_ms)
            except BackfillError as exc:
                log.warning("funding backfill %s: %s", sym, exc)
                continue
            stored += await store_funding_async(conn, rows)
    return stored


async def run_funding(
    database_url: str,
    ws_base: str,
    rest_url: str,
    symbols: Sequence[str],
    stop: asyncio.Event,
    backfill_every_s: float = 3600.0,
    catch_up_days: float = 3.0,
) -> None:
    """The daemon's funding task: REST backfill now and hourly, the stream in between.

    The stream can only settle funding times it sees pass, so after each
    (re)connect its first settled row triggers a catch-up backfill over the last
    `catch_up_days` up to that row: whatever passed while it was not listening.
    """
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        stream = FundingStream(ws_base, symbols, database_sink(conn))
        task = asyncio.create_task(stream.run(), name="funding-stream")
        next_full = 0.0
        caught_up = 0
        try:
            while not stop.is_set():
                now = time.time()
                if now >= next_full:
                    n = await backfill_funding(conn, rest_url, symbols, int(now * 1000))
                    if n:
                        log.info("funding backfill stored %d rows", n)
                    next_full = now + backfill_every_s
                if stream.connections != caught_up and stream.settled_since_connect > 0:
                    end = max(int(now * 1000), stream.last_settled_ms)
                    since = end - int(catch_up_days * 86_400_000)
                    await backfill_funding(conn, rest_url, symbols, end, since_ms=since)
                    caught_up = stream.connections
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
