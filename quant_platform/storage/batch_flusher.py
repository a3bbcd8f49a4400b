"""Batch trades into TimescaleDB every few seconds, and lose none when it is down.

Delivery is oldest first: the disk spool (earlier outages, or an earlier
process), then batches held in memory, then new trades. While the database is
down, batches stay in memory up to `spool_memory_rows`; older ones beyond that
go to the spool, and reconnects are retried with capped backoff. The writer
runs in a worker thread with its own connection, so a slow or hung database
never blocks the event loop that reads the feed.

A batch the database refuses for its content (DataError / IntegrityError,
e.g. a CHECK violation) is split in halves until the bad rows are isolated:
those go to a dead-letter spool (`<spool_dir>/rejected`), the rest is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence

import psycopg

from quant_platform.config import Settings
from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics, storage_metrics
from quant_platform.storage.spool import Spool
from quant_platform.storage.trade_writer import TradeWriter

log = logging.getLogger(__name__)

# Errors about the rows themselves: retrying the same batch would fail forever.
POISON_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.DataError,
    psycopg.IntegrityError,
    TypeError,
    ValueError,
    OverflowError,
)
COALESCE_ROWS = 20_000  # held batches are merged up to this size: fewer, larger COPYs on recovery


class BatchFlusher:
    """Async front of `TradeWriter`: `add` is O(1); `start`, `flush` and `close` are awaited.

    Never raises into the caller for database trouble; raises OSError from
    `close` only if the database is down *and* the spool's disk refuses the
    rows (they then stay in `held` for the caller to inspect).
    """

    def __init__(
        self,
        settings: Settings,
        metrics: StorageMetrics | None = None,
        writer: TradeWriter | None = None,
        spool: Spool | None = None,
        *,
        retry_base_s: float = 0.25,
        retry_cap_s: float = 5.0,
    ) -> None:
        self.interval_s = settings.flush_interval_s
        self.max_rows = settings.flush_max_rows
        self.memory_rows = settings.spool_memory_rows
        self.writer = writer if writer is not None else TradeWriter(settings.database_url)
        self.spool = spool if spool is not None else Spool(settings.spool_dir)
        self.rejected_dir = self.spool.dir / "rejected"
        self._rejected: Spool | None = None
        self.metrics = metrics if metrics is not None else storage_metrics()
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self._new: list[Trade] = []
        self._held: deque[list[Trade]] = deque()
        self._held_rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False
        self._retry_at = 0.0
        self._backoff_s = retry_base_s
        self._spool_full_warned = False
        # counters (rows unless named otherwise)
        self.db_up = True
        self.flushed_rows = 0
        self.inserted_rows = 0
        self.duplicate_rows = 0
        self.spooled_rows = 0
        self.drained_rows = 0
        self.rejected_rows = 0
        self.spool_rows = 0
        self.batches = 0
        self.last_flush_s = 0.0
        self.last_error: str | None = None
        m = self.metrics
        self._m_rows = {
            k: m.flusher_rows.labels(k)
            for k in ("flushed", "inserted", "duplicate", "spooled", "drained", "rejected")
        }
        self._m_latency = m.sink_latency.labels("db")
        m.db_up.set(1)

    # --- hot path ---------------------------------------------------------------------
    def add(self, trade: Trade) -> None:
        """Accept one trade; O(1), never blocks or raises."""
        self._new.append(trade)
        if len(self._new) >= self.max_rows:
            self._wake.set()

    def add_many(self, trades: Sequence[Trade]) -> None:
        self._new.extend(trades)
        if len(self._new) >= self.max_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Rows accepted but not yet in the database, in memory (see `spool_rows` for disk)."""
        return len(self._new) + self._held_rows

    @property
    def held_batches(self) -> int:
        return len(self._held)

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Start the periodic flush task; an earlier process's spool is drained first."""
        if self._task is not None:
            return
        if await asyncio.to_thread(self.spool.has_data):
            self.spool_rows = await asyncio.to_thread(self.spool.rows)
            self.metrics.flusher_spool_rows.set(self.spool_rows)
            log.info(
                "spool %s holds %d trades from an earlier run: draining them first",
                self.spool.dir,
                self.spool_rows,
            )
            self._wake.set()
        self._task = asyncio.create_task(self._run(), name="batch-flusher")

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            self._wake.clear()
            if self._closing:
                return
            try:
                await self.flush()
            except Exception:  # keep serving; the rows stay held and are retried
                log.exception("batch flusher: unexpected error (rows kept for retry)")

    async def flush(self, force: bool = False) -> None:
        """Write the spool, held batches and new trades, oldest first, as far as the DB allows.

        While the database is down, only a retry whose backoff has expired (or
        `force`) touches it; otherwise rows are just held and spilled.
        """
        async with self._lock:
            self._take_new()
            if not self.db_up and not force and time.monotonic() < self._retry_at:
                await self._spill_to(self.memory_rows)
                self._gauges()
                return
            try:
                if self.spool_rows > 0:  # counted at start, then kept by this process
                    await asyncio.to_thread(self._drain_spool)
                while self._held:
                    batch = self._held[0]
                    await asyncio.to_thread(self._write_live, batch)
                    self._held.popleft()
                    self._held_rows -= len(batch)
                self._mark_up()
            except Exception as exc:  # psycopg.OperationalError and friends: the DB is away
                self._mark_down(exc)
                await self._spill_to(self.memory_rows)
            self._gauges()

    def _take_new(self) -> None:
        if not self._new:
            return
        batch, self._new = self._new, []
        if self._held and len(self._held[-1]) + len(batch) <= max(COALESCE_ROWS, self.max_rows):
            self._held[-1].extend(batch)
        else:
            self._held.append(batch)
        self._held_rows += len(batch)

    async def close(self) -> None:
        """Flush everything (SIGTERM path); what the database will not take now is spooled."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(force=True)
        if self._held:
            async with self._lock:
                await self._spill_to(0)
            if self._held:
                raise OSError(f"{self._held_rows} trades could not be spooled to {self.spool.dir}")
            log.warning(
                "database down at shutdown: %d trades spooled to %s for the next start",
                self.spool_rows,
                self.spool.dir,
            )
        self._gauges()
        await asyncio.to_thread(self.writer.close)
        self.spool.close()
        if self._rejected is not None:
            self._rejected.close()

    # --- worker-thread side -------------------------------------------------------------
    def _write(self, batch: list[Trade]) -> int:
        t0 = time.perf_counter()
        inserted = self.writer.write(batch)
        self.last_flush_s = time.perf_counter() - t0
        self.metrics.flush_seconds.observe(self.last_flush_s)
        self.metrics.last_flush_seconds.set(self.last_flush_s)
        n = len(batch)
        self.batches += 1
        self.flushed_rows += n
        self.inserted_rows += inserted
        self.duplicate_rows += n - inserted
        self._m_rows["flushed"].inc(n)
        self._m_rows["inserted"].inc(inserted)
        self._m_rows["duplicate"].inc(n - inserted)
        return inserted

    def _write_isolating(self, batch: list[Trade]) -> int:
        """Write `batch`; rows the database refuses for their content are dead-lettered."""
        try:
            return self._write(batch)
        except POISON_ERRORS as exc:
            if len(batch) == 1:
                self._reject(batch, exc)
                return 0
            mid = len(batch) // 2
            return self._write_isolating(batch[:mid]) + self._write_isolating(batch[mid:])

    def _write_live(self, batch: list[Trade]) -> None:
        self._write_isolating(batch)
        now_ns = time.time_ns()
        for t in (batch[0], batch[-1]):  # oldest and newest of the batch bound the rest
            self._m_latency.observe((now_ns - t.receive_time_ns) / 1e9)

    def _drain_spool(self) -> None:
        drained = 0
        for item in self.spool.iter_batches():
            self._write_isolating(item.trades)
            self.spool.ack(item)
            n = len(item.trades)
            drained += n
            self.drained_rows += n
            self.spool_rows = max(0, self.spool_rows - n)
            self._m_rows["drained"].inc(n)
        self.spool_rows = 0
        if drained:
            log.info("drained %d spooled trades into the database", drained)

    def _reject(self, batch: list[Trade], exc: BaseException) -> None:
        if self._rejected is None:
            self._rejected = Spool(self.rejected_dir)
        self._rejected.append(batch)
        self.rejected_rows += len(batch)
        self._m_rows["rejected"].inc(len(batch))
        log.error(
            "database refused trade %s %d (%s): kept in %s",
            batch[0].symbol,
            batch[0].trade_id,
            _first_line(exc),
            self.rejected_dir,
        )

    def _spill(self, keep_rows: int) -> None:
        """Append the oldest held batches to the spool until at most `keep_rows` stay in memory."""
        while self._held and self._held_rows > keep_rows:
            batch = self._held[0]
            try:
                self.spool.append(batch)
            except OSError as exc:
                if not self._spool_full_warned:
                    log.error(
                        "spool %s refused %d trades (%s): holding them in memory",
                        self.spool.dir,
                        len(batch),
                        exc,
                    )
                    self._spool_full_warned = True
                return
            self._spool_full_warned = False
            self._held.popleft()
            self._held_rows -= len(batch)
            self.spooled_rows += len(batch)
            self.spool_rows += len(batch)
            self._m_rows["spooled"].inc(len(batch))

    async def _spill_to(self, keep_rows: int) -> None:
        if self._held_rows > keep_rows:
            await asyncio.to_thread(self._spill, keep_rows)

    # --- state ------------------------------------------------------------------------
    def _mark_up(self) -> None:
        if not self.db_up:
            log.info(
                "database reachable again: backlog drained (%d trades spooled, %d drained so far)",
                self.spooled_rows,
                self.drained_rows,
            )
        self.db_up = True
        self.last_error = None
        self._backoff_s = self.retry_base_s
        self.metrics.db_up.set(1)

    def _mark_down(self, exc: BaseException) -> None:
        self.last_error = _first_line(exc)
        if self.db_up:
            log.warning(
                "database unreachable (%s): holding trades in memory (up to %d rows), "
                "then spooling to %s",
                self.last_error,
                self.memory_rows,
                self.spool.dir,
            )
        if not isinstance(exc, psycopg.Error):
            log.error("batch flusher: unexpected %r (rows kept for retry)", exc)
        self.db_up = False
        self.metrics.db_up.set(0)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.retry_cap_s)

    def _gauges(self) -> None:
        self.metrics.flusher_pending.set(self.pending)
        self.metrics.flusher_spool_rows.set(self.spool_rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
