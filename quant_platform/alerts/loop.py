"""The daemon's alert cycle: evaluate, persist, stream, hand to sinks.

The I/O shell around the pure `AlertEngine`: persistence in a worker thread,
the Redis stream, and sinks behind bounded queues with one worker task each,
so a slow or dead sink never delays the 500 ms check cycle. It is typed
against the protocols in `alerts.ports`, so it imports no driver.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence

from quant_platform.alerts.engine import AlertEngine, MetricSnapshot
from quant_platform.alerts.ports import EventStore, EventStream, Fired, Sink
from quant_platform.domain.alert import AlertEvent, DeliveryResult

log = logging.getLogger(__name__)

SnapshotFn = Callable[[], MetricSnapshot | None | Awaitable[MetricSnapshot | None]]


class AlertLoop:
    """The daemon's check cycle: evaluate, persist, stream, hand to sinks.

    `store` (an `EventStore`), `stream` (an `EventStream`) and sinks are optional so the
    loop also runs without a database or Redis. Events the database refused are
    kept (bounded) and retried next cycle; they are still streamed and delivered
    at once, because an alert that waits for the database is a late alert.
    """

    def __init__(
        self,
        engine: AlertEngine,
        snapshot_fn: SnapshotFn,
        store: EventStore | None = None,
        stream: EventStream | None = None,
        sinks: Sequence[Sink] = (),
        interval_s: float = 0.5,
        reload_every: int = 20,
        queue_size: int = 1000,
        retry_limit: int = 10_000,
    ) -> None:
        self.engine = engine
        self.snapshot_fn = snapshot_fn
        self.store = store
        self.stream = stream
        self.sinks = list(sinks)
        self.interval_s = float(interval_s)
        self.reload_every = int(reload_every)
        self.queue_size = int(queue_size)
        self.retry: deque[AlertEvent] = deque(maxlen=retry_limit)
        self.queues: list[asyncio.Queue[Fired]] = []
        self.cycles = 0
        self.cycle_starts: deque[float] = deque(maxlen=1000)  # monotonic, for health/tests
        self.dropped: Counter[str] = Counter()  # per sink, queue full
        self.deliveries: list[DeliveryResult] = []  # last results (bounded), for health/tests
        self.db_retry_s = 5.0  # while the database is down, try it at most this often
        self._db_down = False
        self._db_next_try = 0.0
        self._reload_task: asyncio.Task[bool] | None = None

    async def reload_rules(self) -> bool:
        """Pick up CLI/dashboard edits: enabled rules from the store."""
        if self.store is None:
            return False
        try:
            rules = await asyncio.to_thread(self.store.list_rules, True)
        except Exception as exc:  # DB down: keep the current rules
            log.warning("alert rules not reloaded: %s", exc)
            return False
        self.engine.set_rules(rules)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Every `interval_s` until `stop` is set; sink workers stop with it."""
        workers = [
            asyncio.create_task(self._sink_worker(s, q), name=f"alert-sink-{i}")
            for i, (s, q) in enumerate(self._make_queues())
        ]
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    await self.run_cycle()
                except Exception:  # one bad cycle must not end alerting
                    log.exception("alert cycle failed")
                if self.reload_every and self.cycles % self.reload_every == 0:
                    self._start_reload()
                delay = max(0.0, self.interval_s - (time.monotonic() - t0))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            tasks = [*workers, *([self._reload_task] if self._reload_task else [])]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_reload(self) -> None:
        """Reload in the background: a slow database must not hold up the next cycle."""
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self.reload_rules(), name="alert-rules-reload")

    def _make_queues(self) -> list[tuple[Sink, asyncio.Queue[Fired]]]:
        self.queues = [asyncio.Queue(maxsize=self.queue_size) for _ in self.sinks]
        return list(zip(self.sinks, self.queues, strict=True))

    async def run_cycle(self) -> list[Fired]:
        """One evaluation; returns (event id or None, event) for what fired."""
        self.cycles += 1
        self.cycle_starts.append(time.monotonic())
        snap = self.snapshot_fn()
        if inspect.isawaitable(snap):
            snap = await snap
        events = self.engine.evaluate(snap or {})
        ids = await self._persist(events)
        fired: list[Fired] = list(zip(ids, events, strict=True))
        if fired and self.stream is not None:
            await self.stream.append(fired)
        for item in fired:
            for sink, q in zip(self.sinks, self.queues, strict=False):
                try:
                    q.put_nowait(item)
                except asyncio.QueueFull:
                    self.dropped[sink.name] += 1
                    log.warning("alert sink %s is behind; event dropped", sink.name)
        return fired

    async def _persist(self, events: list[AlertEvent]) -> list[int | None]:
        """Insert this cycle's events (ids in order); None ids while the database is down."""
        if self.store is None:
            return [None] * len(events)
        if self._db_down and time.monotonic() < self._db_next_try:
            # Known down: hold events without waiting on a connect timeout every cycle.
            self.retry.extend(events)
            return [None] * len(events)
        if self.retry:  # the database came back? persist the backlog first
            backlog = list(self.retry)
            try:
                await asyncio.to_thread(self.store.insert_events, backlog)
            except Exception as exc:
                self._note_db_down(exc)
                self.retry.extend(events)
                return [None] * len(events)
            self.retry.clear()
            log.info("alert events: %d held event(s) persisted", len(backlog))
            self._db_up()
        if not events:
            return []
        try:
            ids = await asyncio.to_thread(self.store.insert_events, events)
        except Exception as exc:
            self._note_db_down(exc)
            self.retry.extend(events)
            return [None] * len(events)
        self._db_up()
        return list(ids)

    def _db_up(self) -> None:
        if self._db_down:
            log.info("alert events: database reachable again")
        self._db_down = False

    def _note_db_down(self, exc: Exception) -> None:
        if not self._db_down:
            log.error("alert events not persisted (kept for retry): %s", exc)
        self._db_down = True
        self._db_next_try = time.monotonic() + self.db_retry_s

    async def _sink_worker(self, sink: Sink, q: asyncio.Queue[Fired]) -> None:
        name = sink.name
        while True:
            event_id, event = await q.get()
            try:
                result = await sink.send(event, event_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a sink bug must not kill its worker
                log.exception("alert sink %s failed", name)
                result = DeliveryResult(name, False, 1, f"{type(exc).__name__}: {exc}", 0.0)
            self.deliveries.append(result)
            del self.deliveries[:-1000]
            if self.store is not None and event_id is not None:
                try:
                    await asyncio.to_thread(
                        self.store.record_delivery, event_id, result, event.time_dt
                    )
                except Exception as exc:
                    log.warning("delivery of alert %s not recorded: %s", event_id, exc)
