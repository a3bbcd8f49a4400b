"""Batch trades into TimescaleDB every few seconds, and lose none when it is down.

Order of delivery is oldest first: the disk spool (from earlier outages, or an
earlier process), then batches held in memory, then new trades. While the
database is down, batches stay in memory up to `spool_memory_rows`; older ones
beyond that go to the spool. The writer runs in a worker thread so a slow or
hung database never blocks the event loop that reads the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import psycopg

from quant_platform.config import Settings
from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.spool import Spool
from quant_platform.storage.trade_writer import TradeWriter

log = logging.getLogger(__name__)


class BatchFlusher:
    def __init__(self, settings: Settings, metrics: StorageMetrics | None = None,
                 writer: TradeWriter | None = None, spool: Spool | None = None) -> None:  # fmt: skip
        self.interval_s = settings.flush_interval_s
        self.max_rows = settings.flush_max_rows
        self.memory_rows = settings.spool_memory_rows
        self.writer = writer or TradeWriter(settings.database_url)
        self.spool = spool or Spool(settings.spool_dir)
        self.metrics = metrics or StorageMetrics()
        self._new: list[Trade] = []
        self._held: deque[list[Trade]] = deque()
        self._held_rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.db_up = True
        self.flushed_rows = 0
        self.inserted_rows = 0
        self.duplicate_rows = 0
        self.spooled_rows = 0
        self.drained_rows = 0
        self.last_flush_s = 0.0

    # --- hot path -------------------------------------------------------------------
    def add(self, trade: Trade) -> None:
        self._new.append(trade)
        if len(self._new) >= self.max_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Rows accepted but not yet in the database (memory only; see `spool.rows()` for disk)."""
        return len(self._new) + self._held_rows

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        if self.spool.has_data():
            log.info("spool holds trades from an earlier outage: draining first")
        self._task = asyncio.create_task(self._run(), name="batch-flusher")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Move new trades into the held queue and write everything the database will take."""
        async with self._lock:
            if self._new:
                batch, self._new = self._new, []
                self._held.append(batch)
                self._held_rows += len(batch)
            try:
                if self.spool.has_data():
                    await asyncio.to_thread(self._drain_spool)
                while self._held:
                    batch = self._held[0]
                    await asyncio.to_thread(self._write, batch)
                    self._held.popleft()
                    self._held_rows -= len(batch)
                self._mark_up()
            except psycopg.Error as exc:
                self._mark_down(exc)
                await asyncio.to_thread(self._spill, self.memory_rows)
            self.metrics.flusher_pending.set(self.pending)

    def _write(self, batch: list[Trade]) -> int:
        t0 = time.perf_counter()
        inserted = self.writer.write(batch)
        self.last_flush_s = time.perf_counter() - t0
        self.metrics.flush_seconds.observe(self.last_flush_s)
        self.flushed_rows += len(batch)
        self.inserted_rows += inserted
        self.duplicate_rows += len(batch) - inserted
        self.metrics.flusher_rows.labels("inserted").inc(inserted)
        self.metrics.flusher_rows.labels("duplicate").inc(len(batch) - inserted)
        now_ns = time.time_ns()
        observe = self.metrics.sink_latency.labels("db").observe
        for t in (batch[0], batch[-1]):  # oldest and newest of the batch bound the rest
            observe((now_ns - t.receive_time_ns) / 1e9)
        return inserted

    def _drain_spool(self) -> None:
        for path, batches in self.spool.segments():
            for batch in batches:
                self._write(batch)
                self.drained_rows += len(batch)
                self.metrics.flusher_rows.labels("drained").inc(len(batch))
            self.spool.remove(path)
            log.info("drained spool segment %s", path.name)

    def _spill(self, keep_rows: int) -> None:
        """Append the oldest held batches to the spool until at most `keep_rows` stay in memory."""
        while self._held and self._held_rows > keep_rows:
            batch = self._held.popleft()
            self.spool.append(batch)
            self._held_rows -= len(batch)
            self.spooled_rows += len(batch)
            self.metrics.flusher_rows.labels("spooled").inc(len(batch))

    def _mark_up(self) -> None:
        if not self.db_up:
            log.warning("database reachable again: drained, %d rows pending", self.pending)
        self.db_up = True
        self.metrics.db_up.set(1)

    def _mark_down(self, exc: Exception) -> None:
        if self.db_up:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.error("database unreachable (%s): holding trades in memory (up to %d rows), "
                      "then spooling to %s", reason, self.memory_rows, self.spool.dir)  # fmt: skip
        self.db_up = False
        self.metrics.db_up.set(0)

    async def close(self) -> None:
        """Flush everything; whatever the database will not take now goes to the spool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        if self._held:
            await asyncio.to_thread(self._spill, 0)
            log.warning("database down at shutdown: %d rows spooled for the next start",
                        self.spooled_rows)  # fmt: skip
        await asyncio.to_thread(self.writer.close)
