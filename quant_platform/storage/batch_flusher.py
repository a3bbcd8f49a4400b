"""Batch trades into TimescaleDB every few seconds, and lose none when it is down.

Delivery is oldest first: the disk spool (earlier outages, or an earlier
process), then batches held in memory, then new trades. Memory is bounded
always, not only while the database is down: once the rows in memory pass
`spool_memory_rows` (say a database that is up but slower than the feed), the
newest go to the disk spool while the slow write goes on, and are drained from
there. A write batch never exceeds `flush_batch_max_rows`; a batch that
outruns the statement timeout is split in halves and retried (the database is
slow, not down). The spool has a byte limit (`spool_max_bytes`) and raises an
alarm (metric, log, /health) at `spool_alarm_fraction` of it; rows neither the
database, memory nor the spool can take are dropped and counted, never silently.
Reconnects are retried with capped backoff. The writer runs in a worker thread
with its own connection, so a slow or hung database never blocks the event
loop that reads the feed.

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

import msgspec
import psycopg

from quant_platform.config import Settings
from quant_platform.domain import Trade
from quant_platform.domain.coerce import first_line
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
MIN_SPLIT_ROWS = 50  # a timed-out batch is halved down to this size, then held for a retry


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
        self.batch_rows = max(settings.flush_batch_max_rows, self.max_rows)
        self.writer = (
            writer
            if writer is not None
            else TradeWriter(
                settings.database_url, statement_timeout_s=settings.db_statement_timeout_s
            )
        )
        self.spool = (
            spool
            if spool is not None
            else Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        )
        limit = self.spool.max_bytes or settings.spool_max_bytes
        self.spool_alarm_bytes = int(limit * settings.spool_alarm_fraction)
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
        self._overflow: asyncio.Task[None] | None = None
        self._overflow_rows = 0
        self._slow = False  # the last write outran the statement timeout
        # counters (rows unless named otherwise)
        self.db_up = True
        self.flushed_rows = 0
        self.inserted_rows = 0
        self.duplicate_rows = 0
        self.spooled_rows = 0
        self.drained_rows = 0
        self.rejected_rows = 0
        self.spool_rows = 0
        self.spool_bytes = 0
        self.spool_alarm = False
        self.dropped_rows = 0
        self.timeouts = 0
        self.batches = 0
        self.last_flush_s = 0.0
        self.last_error: str | None = None
        m = self.metrics
        self._m_rows = {
            k: m.flusher_rows.labels(k)
            for k in (
                "flushed",
                "inserted",
                "duplicate",
                "spooled",
                "drained",
                "rejected",
                "dropped",
            )
        }
        self._m_latency = m.sink_latency.labels("db")
        m.db_up.set(1)

    # --- hot path ---------------------------------------------------------------------
    def add(self, trade: Trade) -> None:
        """Accept one trade; O(1), never blocks or raises."""
        self._new.append(trade)
        if len(self._new) >= self.max_rows:
            self._wake.set()
            self._check_memory()

    def add_many(self, trades: Sequence[Trade]) -> None:
        self._new.extend(trades)
        if len(self._new) >= self.max_rows:
            self._wake.set()
            self._check_memory()

    def _check_memory(self) -> None:
        """Past the memory bound, new rows go to the spool at once (the writer may be busy)."""
        if self._overflow is not None or self._closing:
            return
        if len(self._new) + self._held_rows + self._overflow_rows > self.memory_rows:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # filled before the loop runs: `flush` spills instead
                return
            self._overflow = loop.create_task(self._spill_new(), name="batch-flusher-overflow")

    def flush_soon(self) -> None:
        """Write what is pending now instead of at the next interval (e.g. a stream's first
        trade, which anchors where the next start resumes)."""
        self._wake.set()

    @property
    def pending(self) -> int:
        """Rows accepted but not yet in the database, in memory (see `spool_rows` for disk)."""
        return len(self._new) + self._held_rows + self._overflow_rows

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

        While the database is down (or timing out), only a retry whose backoff
        has expired (or `force`) touches it; otherwise rows are just held and spilled.
        """
        async with self._lock:
            self._take_new()
            await self._spill_to(self.memory_rows)
            waiting = not self.db_up or self._slow
            if waiting and not force and time.monotonic() < self._retry_at:
                self._gauges()
                return
            try:
                if self.spool_rows > 0:  # counted at start, then kept by this process
                    await self._drain()
                while self._held:
                    batch = self._held[0]
                    await asyncio.to_thread(self._write_live, batch)
                    self._held.popleft()
                    self._held_rows -= len(batch)
                self._mark_up()
            except psycopg.errors.QueryCanceled as exc:  # slow, not down: retry, smaller
                self._mark_slow(exc)
                await self._spill_to(self.memory_rows)
            except Exception as exc:  # psycopg.OperationalError and friends: the DB is away
                self._mark_down(exc)
                await self._spill_to(self.memory_rows)
            self._gauges()

    def _take_new(self) -> None:
        """Move new rows to the held queue in batches of at most `batch_rows`."""
        if not self._new:
            return
        batch, self._new = self._new, []
        self._held_rows += len(batch)
        if self._held and len(self._held[-1]) < self.batch_rows:
            room = self.batch_rows - len(self._held[-1])
            self._held[-1].extend(batch[:room])
            batch = batch[room:]
        for i in range(0, len(batch), self.batch_rows):
            self._held.append(batch[i : i + self.batch_rows])

    async def _spill_new(self) -> None:
        """Overflow path: append new rows to the spool while a (slow) write holds the lock.

        Runs until memory is back under the bound. Rows the spool refuses are
        dropped and counted (`dropped`): memory is already at its bound.
        """
        try:
            while (
                self._new
                and len(self._new) + self._held_rows + self._overflow_rows > self.memory_rows
            ):
                rows, self._new = self._new, []
                self._overflow_rows += len(rows)
                try:
                    for i in range(0, len(rows), self.batch_rows):
                        chunk = rows[i : i + self.batch_rows]
                        try:
                            n = await asyncio.to_thread(self._spool_append, chunk)
                        except OSError as exc:
                            self._spool_refused(chunk, exc, keep=False)
                            continue
                        self._count_spooled(n)
                finally:
                    self._overflow_rows -= len(rows)
                await self._refresh_spool_size()
        finally:
            self._overflow = None
            self._gauges()

    def _count_spooled(self, n: int) -> None:
        self.spooled_rows += n
        self.spool_rows += n
        self._m_rows["spooled"].inc(n)
        self._spool_full_warned = False

    def _spool_refused(self, batch: list[Trade], exc: OSError, keep: bool) -> None:
        """The spool refused `batch`: keep it in memory if `keep`, else drop and count it."""
        if not self._spool_full_warned:
            log.error(
                "spool %s refused %d trades (%s): %s",
                self.spool.dir,
                len(batch),
                exc,
                "holding them in memory" if keep else "memory is full too, dropping them",
            )
            self._spool_full_warned = True
        if keep:
            return
        self.dropped_rows += len(batch)
        self._m_rows["dropped"].inc(len(batch))
        log.critical(
            "dropped %d trades (%s %d..%d): database, memory (QP_SPOOL_MEMORY_ROWS) and "
            "spool (QP_SPOOL_MAX_BYTES) are all full; %d dropped so far",
            len(batch),
            batch[0].symbol,
            batch[0].trade_id,
            batch[-1].trade_id,
            self.dropped_rows,
        )

    async def _refresh_spool_size(self) -> None:
        self.spool_bytes = await asyncio.to_thread(self.spool.size_bytes)
        alarm = self.spool_bytes >= self.spool_alarm_bytes
        if alarm and not self.spool_alarm:
            log.error(
                "spool %s holds %.1f MiB, past the alarm at %.1f MiB; at %.1f MiB "
                "(QP_SPOOL_MAX_BYTES) trades will be dropped: is the database keeping up?",
                self.spool.dir,
                self.spool_bytes / 2**20,
                self.spool_alarm_bytes / 2**20,
                (self.spool.max_bytes or 0) / 2**20,
            )
        elif self.spool_alarm and not alarm:
            log.info("spool back under its alarm level (%d bytes)", self.spool_bytes)
        self.spool_alarm = alarm
        self.metrics.flusher_spool_bytes.set(self.spool_bytes)
        self.metrics.flusher_spool_alarm.set(1 if alarm else 0)

    async def close(self) -> None:
        """Flush everything (SIGTERM path); what the database will not take now is spooled."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._overflow is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._overflow
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
        """Write `batch`; rows the database refuses for their content are dead-lettered.

        A batch that outruns the statement timeout is halved and retried down to
        MIN_SPLIT_ROWS rows. Raises psycopg.errors.QueryCanceled below that, and
        psycopg.OperationalError when the database is away.
        """
        try:
            return self._write(batch)
        except POISON_ERRORS as exc:
            if len(batch) == 1:
                self._reject(batch, exc)
                return 0
            mid = len(batch) // 2
            return self._write_isolating(batch[:mid]) + self._write_isolating(batch[mid:])
        except psycopg.errors.QueryCanceled as exc:
            self.timeouts += 1
            if len(batch) <= MIN_SPLIT_ROWS:
                raise
            log.warning(
                "a batch of %d trades outran the statement timeout (%s): splitting it",
                len(batch),
                first_line(exc),
            )
            mid = len(batch) // 2
            return self._write_isolating(batch[:mid]) + self._write_isolating(batch[mid:])

    def _write_live(self, batch: list[Trade]) -> None:
        self._write_isolating(batch)
        now_ns = time.time_ns()
        for t in (batch[0], batch[-1]):  # oldest and newest of the batch bound the rest
            self._m_latency.observe((now_ns - t.receive_time_ns) / 1e9)

    async def _drain(self) -> None:
        """Drain the spool; the overflow path may append to it meanwhile (the spool is locked).

        Counters move on the event loop only, so a concurrent spill is never lost
        from `spool_rows`.
        """
        drained = 0
        batches = self.spool.iter_batches()  # lazy: one segment in memory at a time
        try:
            while (item := await asyncio.to_thread(next, batches, None)) is not None:
                await asyncio.to_thread(self._write_isolating, item.trades)
                await asyncio.to_thread(self.spool.ack, item)
                n = len(item.trades)
                drained += n
                self.drained_rows += n
                self.spool_rows = max(0, self.spool_rows - n)
                self._m_rows["drained"].inc(n)
        finally:
            if self._overflow is None and not await asyncio.to_thread(self.spool.has_data):
                self.spool_rows = 0
            await self._refresh_spool_size()
            if drained:
                log.info("drained %d spooled trades into the database", drained)

    def _reject(self, batch: list[Trade], exc: BaseException) -> None:
        """Dead-letter rows; never raises for what a row contains (one bad row costs one row)."""
        if self._rejected is None:
            self._rejected = Spool(self.rejected_dir)
        try:
            self._rejected.append(batch)
        except OSError:
            raise  # the disk, not the row: the caller keeps the rows
        except Exception:  # noqa: BLE001 - a row the spool cannot even encode
            self._reject_as_text(batch)
        self.rejected_rows += len(batch)
        self._m_rows["rejected"].inc(len(batch))
        log.error(
            "database refused trade %s %d (%s): kept in %s",
            batch[0].symbol,
            batch[0].trade_id,
            first_line(exc),
            self.rejected_dir,
        )

    def _reject_as_text(self, batch: list[Trade]) -> None:
        """Last resort for rows no encoder takes: their repr, one per line, for a human."""
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        with (self.rejected_dir / "unencodable.txt").open("a", encoding="utf-8") as fh:
            for t in batch:
                fh.write(repr(t) + "\n")

    def _spool_append(self, batch: list[Trade]) -> int:
        """Append `batch` to the spool (worker thread); returns the rows spooled.

        A row the spool cannot encode (a number out of range) is dead-lettered on
        its own and the rest is spooled, so one bad row never wedges the backlog.

        Raises:
            OSError: the disk refused (the caller keeps or drops the rows and counts them).
        """
        try:
            self.spool.append(batch)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - a row, not the disk: isolate it
            bad_ids = {id(t) for t in batch if not _encodable(t)} or {id(batch[0])}
            self._reject([t for t in batch if id(t) in bad_ids], exc)
            rest = [t for t in batch if id(t) not in bad_ids]
            return self._spool_append(rest) if rest else 0  # each level drops >= 1 row
        return len(batch)

    async def _spill_to(self, keep_rows: int) -> None:
        """Move the oldest held batches to the spool until at most `keep_rows` stay in memory.

        Called with the lock held (no write in flight). If the spool refuses, rows
        stay in memory on the shutdown path (`keep_rows` == 0, `close` reports
        them); otherwise the oldest beyond the bound are dropped and counted.
        """
        if self._held_rows <= keep_rows:
            return
        while self._held and self._held_rows > keep_rows:
            batch = self._held[0]
            try:
                n = await asyncio.to_thread(self._spool_append, batch)
            except OSError as exc:
                self._spool_refused(batch, exc, keep=keep_rows == 0)
                if keep_rows == 0:
                    break
            else:
                self._count_spooled(n)
            self._held.popleft()
            self._held_rows -= len(batch)
        await self._refresh_spool_size()

    # --- state ------------------------------------------------------------------------
    def _mark_up(self) -> None:
        if not self.db_up:
            log.info(
                "database reachable again: backlog drained (%d trades spooled, %d drained so far)",
                self.spooled_rows,
                self.drained_rows,
            )
        if self._slow:
            log.info("database keeping up again after %d statement timeouts", self.timeouts)
        self.db_up = True
        self._slow = False
        self.last_error = None
        self._backoff_s = self.retry_base_s
        self.metrics.db_up.set(1)

    def _mark_slow(self, exc: BaseException) -> None:
        """A batch of MIN_SPLIT_ROWS still timed out: hold rows, retry later; the DB is up."""
        self.last_error = first_line(exc)
        if not self._slow:
            log.warning(
                "database too slow (%s, QP_DB_STATEMENT_TIMEOUT_S): holding trades and "
                "retrying with backoff",
                self.last_error,
            )
        self._slow = True
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.retry_cap_s)

    def _mark_down(self, exc: BaseException) -> None:
        self.last_error = first_line(exc)
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


def _encodable(t: Trade) -> bool:
    try:
        _ROW_ENCODER.encode(t)
    except Exception:  # noqa: BLE001 - whatever the encoder refuses
        return False
    return True


_ROW_ENCODER = msgspec.msgpack.Encoder()
