"""The ingestion daemon: feed → decoder → continuity → three sinks; analytics; alerts.

The per-message path (`on_frame`) is synchronous and allocation-light: decode,
validate, classify the id, then O(1) hand-offs to the tick buffer, the Redis
sink and the batch flusher. Everything slow (network writes, COPY, REST
backfills, analytics) runs in its own task so a stalled store never stalls the feed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from quant_platform.config import Settings
from quant_platform.domain.service import EXIT_TEMPFAIL
from quant_platform.feed.backfill import BackfillError, RestBackfiller
from quant_platform.feed.backoff import Backoff, TooManyFailures
from quant_platform.feed.connection import ConnectionEvents, FeedConnection
from quant_platform.feed.continuity import TradeIdTracker
from quant_platform.feed.decoder import TradeDecoder
from quant_platform.feed.routes import plan_connections
from quant_platform.feed.venue_clock import VenueClock
from quant_platform.ingestion.gap_filler import GapFiller, GapRequest
from quant_platform.ingestion.health_server import HealthServer
from quant_platform.ingestion.kind_switch import carry_over, newer_by_time
from quant_platform.ingestion.live_analytics import LiveAnalytics
from quant_platform.ingestion.metrics import FeedMetrics
from quant_platform.ingestion.remote_legs import RemoteLegReader
from quant_platform.ingestion.task_supervisor import TaskSupervisor
from quant_platform.storage.batch_flusher import BatchFlusher
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import RedisAnalyticsCache, RedisTickSink
from quant_platform.storage.resume import ResumePoint, read_resume_state
from quant_platform.storage.tick_buffer import TickBuffer

log = logging.getLogger(__name__)


class IngestionDaemon:
    # How long shutdown waits for an alert cycle in flight (persist, stream, hand to sinks).
    ALERT_STOP_GRACE_S = 5.0
    # How long shutdown waits for cancelled tasks before flushing without them.
    TASK_STOP_GRACE_S = 10.0
    # How often the feed health hash (the dashboard's heartbeat) is refreshed.
    HEARTBEAT_S = 1.0

    def __init__(
        self,
        settings: Settings,
        feed_name: str | None = None,
        registry: CollectorRegistry | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.feed_name = feed_name or settings.feed
        self.registry = registry or CollectorRegistry()
        self.metrics = FeedMetrics(self.registry)
        self.metrics_port = settings.metrics_port if metrics_port is None else metrics_port
        self.kind = settings.stream
        self.decoder = TradeDecoder(symbols=frozenset(settings.symbols))
        self.tracker = TradeIdTracker()
        self.buffer = TickBuffer(settings.tick_buffer_size)
        self.keys = RedisKeys(settings.redis_prefix)
        self.storage_metrics = StorageMetrics(self.registry)
        self.redis_sink = RedisTickSink(settings, self.storage_metrics)
        self.cache = RedisAnalyticsCache(settings)
        self.flusher = BatchFlusher(settings, self.storage_metrics)
        key = settings.binance_api_key
        self.backfiller = RestBackfiller(
            settings.rest_url, api_key=key.get_secret_value() if key else None
        )
        self.live = LiveAnalytics(settings, cache=self.cache)
        # legs of this shard's pairs that another shard ingests: read from its tick streams
        self.remote_legs = (
            RemoteLegReader(
                settings.redis_url,
                self.keys,
                settings.remote_symbols,
                self.live.on_trade,
                history_s=settings.analytics_window_s,
            )
            if settings.remote_symbols
            else None
        )
        self.alert_loop: Any = None
        # extra long-running parts attached by ingestion/wiring.py (e.g. funding): (name,
        # factory called with the stop event), supervised like the other helpers
        self.side_tasks: list[tuple[str, Callable[[asyncio.Event], Awaitable[None]]]] = []
        self.stop = asyncio.Event()
        self.tasks = TaskSupervisor(
            self.stop,
            self.registry,
            max_deaths=settings.task_max_restarts,
            window_s=settings.task_restart_window_s,
            on_give_up=self._task_gave_up,
        )
        self.exit_code = 0
        self.stragglers: list[str] = []  # tasks that ignored cancellation at shutdown
        self.started = time.time()
        self.counts = {
            "received": 0,
            "accepted": 0,
            "rejected": 0,
            "duplicates": 0,
            "gap_trades": 0,
            "backfilled": 0,
            "unrecovered": 0,
            "reconnects": 0,
        }
        self.gap_filler = GapFiller(
            self.backfiller,
            self.tracker,
            self._accept,
            self.counts,
            on_recovered=self._on_recovered,
            on_unrecovered=self.metrics.unrecovered.inc,
            on_throttled=self.metrics.backfill_throttled.inc,
        )
        self.venue_clock = VenueClock(
            self.backfiller.server_time_ms, self._set_clock_offset, settings.venue_time_refresh_s
        )
        self.resumed: dict[str, int] = {}
        self._anchor = False
        self._last_trade_ns = 0
        self.connections: list[FeedConnection] = []
        # per-message lookups, built once: stream names and per-symbol counter children
        self._streams: dict[tuple[str, str], str] = {}
        self._accepted = {s: self.metrics.accepted.labels(s) for s in settings.symbols}
        self.silent_streams: dict[str, str] = {}
        self.quiet_streams: dict[str, int] = {}  # fed, went quiet, resubscribed: times

    # --- the hot path ---------------------------------------------------------------
    def on_frame(self, raw: str | bytes, receive_ns: int) -> str | None:
        """Decode one frame and hand every new trade to the sinks; returns its stream name."""
        self.counts["received"] += 1
        self.metrics.received.inc()
        result = self.decoder.decode(raw, receive_ns)
        trade = result.trade
        if trade is None:
            if result.reject_reason is not None:
                self.counts["rejected"] += 1
                self.metrics.rejected.labels(result.reject_reason).inc()
            return None
        key = (trade.symbol, trade.kind)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = f"{trade.symbol.lower()}@{trade.kind}"
            if trade.symbol not in self.resumed:
                # A stream's first trade with nothing stored before it: store it at once,
                # so a crash from here on has a stored id to resume from.
                self._anchor = True
        status = self.tracker.observe(trade)
        if status.duplicate:
            self.counts["duplicates"] += 1
            self.metrics.duplicates.inc()
            return stream
        if status.gap is not None:
            missing = status.gap[1] - status.gap[0] + 1
            self.counts["gap_trades"] += missing
            self.metrics.gaps.inc(missing)
            self.gap_filler.put(
                GapRequest(
                    trade.symbol,
                    trade.kind,
                    status.gap[0],
                    status.gap[1],
                    after_ms=status.after_ms,
                    before_ms=trade.trade_time_ms,
                )
            )
        self._accept(trade)
        if self._anchor:
            self._anchor = False
            self.flusher.flush_soon()
        return stream

    def _accept(self, trade: Any) -> None:
        self.buffer.append(trade)
        self.redis_sink.add(trade)
        self.flusher.add(trade)
        self.live.on_trade(
            trade.symbol, trade.trade_time_ms, trade.price, trade.qty, trade.buyer_is_maker
        )
        self.counts["accepted"] += 1
        self._accepted[trade.symbol].inc()
        self._last_trade_ns = trade.receive_time_ns

    # --- feed events --------------------------------------------------------------------
    def _on_connected(self, url: str, reconnect: bool) -> None:
        self.metrics.connected.inc()
        if reconnect:
            self.counts["reconnects"] += 1
            self.metrics.reconnects.inc()
            # Trades that happened while we were away may never be followed by another
            # trade on a quiet symbol: ask REST for everything after the last id we hold.
            for (symbol, kind), last in self.tracker.last_ids().items():
                self.gap_filler.put(
                    GapRequest(
                        symbol,
                        kind,
                        last + 1,
                        None,
                        after_ms=self.tracker.last_time_ms(symbol, kind),
                        reason="reconnect",
                    )
                )
        log.info(
            "connected to %s (%s feed%s)", url, self.feed_name, ", reconnect" if reconnect else ""
        )

    def _on_failure(self, reason: str) -> None:
        self.metrics.connected.dec()

    def _on_silent(self, route: str, streams: list[str]) -> None:
        for s in streams:
            self.silent_streams[s] = route
            self.metrics.silent.labels(s).inc()
        log.error(
            "subscription acknowledged but silent for %.0f s on route %s: %s",
            self.settings.stream_silence_s,
            route,
            ", ".join(streams),
        )
        every = all(s.endswith("@trade") for s in streams) and len(streams) == len(
            self.settings.symbols
        )
        if every and self.kind == "trade" and self.settings.stream_fallback:
            log.error(
                "@trade is silent for every symbol on %s; falling back to @aggTrade on its "
                "route (QP_STREAM_FALLBACK=true)",
                route,
            )
            self.kind = "aggTrade"

    def _on_quiet(self, route: str, streams: list[str]) -> None:
        for s in streams:
            self.quiet_streams[s] = self.quiet_streams.get(s, 0) + 1
            self.metrics.quiet.labels(s).inc()
        log.error(
            "stream(s) went quiet for %.0f s after feeding, while the others on %s still "
            "flow: %s; resubscribing",
            self.settings.stream_silence_s,
            route,
            ", ".join(streams),
        )

    # --- background tasks --------------------------------------------------------------
    def _on_recovered(self, n: int, via_agg: int, historical: int = 0) -> None:
        self.metrics.backfilled.inc(n)
        if via_agg:
            self.metrics.backfilled_via_agg.inc(via_agg)
        if historical:
            self.metrics.backfilled_historical.inc(historical)

    def _set_clock_offset(self, offset_ms: int) -> None:
        self.decoder.clock_offset_ms = offset_ms
        self.metrics.clock_offset_ms.set(offset_ms)

    async def resume_from_store(self) -> None:
        """Continue each stream from the newest stored id: backfill what came meanwhile.

        Runs before streaming starts. Seeds the id tracker with the newest stored id per
        symbol (so the first live frame opens an exact gap) and queues an open-ended
        backfill per symbol (for symbols that stay quiet) plus one per recent hole.
        """
        s = self.settings
        try:
            points, holes = await asyncio.to_thread(
                read_resume_state,
                s.database_url,
                list(s.symbols),
                self.kind,
                lookback_s=s.resume_lookback_s,
                hole_window_s=s.resume_hole_window_s,
            )
        except Exception as exc:  # noqa: BLE001 - DB away at start: stream anyway, say so
            log.error(
                "could not read the newest stored trade ids (%s): starting without a restart "
                "backfill; trades published while the daemon was down are not recovered",
                exc,
            )
            return
        points = await self._carry_over(points)
        for p in points:
            self.tracker.seed(p.symbol, p.kind, p.last_id, p.last_ms)
            self.gap_filler.put(
                GapRequest(
                    p.symbol, p.kind, p.last_id + 1, None, after_ms=p.last_ms, reason="restart"
                )
            )
        for h in holes:
            self.tracker.add_gap(h.symbol, h.kind, h.from_id, h.to_id)
            missing = h.to_id - h.from_id + 1
            self.counts["gap_trades"] += missing
            self.metrics.gaps.inc(missing)
            self.gap_filler.put(
                GapRequest(
                    h.symbol,
                    h.kind,
                    h.from_id,
                    h.to_id,
                    after_ms=h.after_ms,
                    before_ms=h.before_ms,
                    reason="stored hole",
                )
            )
        self.resumed = {p.symbol: p.last_id for p in points}
        if points:
            log.info(
                "resuming %s streams after the newest stored ids (%s); %d stored holes queued",
                self.kind,
                ", ".join(f"{p.symbol} {p.last_id}" for p in points),
                len(holes),
            )

    async def _carry_over(self, points: list[ResumePoint]) -> list[ResumePoint]:
        """Where QP_STREAM changed since the newest stored rows, continue from the other
        kind's newest row when it is newer by time (ingestion/kind_switch.py)."""
        s = self.settings
        other_kind = "aggTrade" if self.kind == "trade" else "trade"
        try:
            theirs, _ = await asyncio.to_thread(
                read_resume_state,
                s.database_url,
                list(s.symbols),
                other_kind,
                lookback_s=s.resume_lookback_s,
                hole_window_s=0,
            )
        except Exception as exc:  # noqa: BLE001 - the own kind's points still stand
            log.warning("newest stored %s rows not read (%s): no carry-over", other_kind, exc)
            return points
        mine = {p.symbol: p for p in points}
        for other in newer_by_time(mine, {p.symbol: p for p in theirs}):
            try:
                found = await carry_over(self.backfiller, other, self.kind)
            except (BackfillError, OSError) as exc:
                found, why = None, str(exc)
            else:
                why = "the venue no longer has the aggTrade that joins them"
            if found is None:
                log.warning(
                    "%s: the newest stored row is a %s (id %d); the %s stream could not be "
                    "carried over from it (%s)",
                    other.symbol,
                    other.kind,
                    other.last_id,
                    self.kind,
                    why,
                )
                continue
            mine[other.symbol] = found.point
            if found.unrecovered:
                self.counts["unrecovered"] += found.unrecovered
                self.metrics.unrecovered.inc(found.unrecovered)
            log.warning(
                "%s: QP_STREAM is %s but the newest stored row is a %s (id %d); continuing "
                "after %s id %d (%d trades at the seam counted unrecovered)",
                other.symbol,
                self.kind,
                other.kind,
                other.last_id,
                self.kind,
                found.point.last_id,
                found.unrecovered,
            )
        return list(mine.values())

    def _warn_queued_gaps(self) -> None:
        if self.gap_filler.queued:
            log.warning(
                "stopping with %d gaps still queued for backfill: the next start resumes "
                "from the newest stored ids and re-queues recent stored holes",
                self.gap_filler.queued,
            )

    async def _summary(self, every_s: float = 30.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            c = self.counts
            self.metrics.backfill_queue.set(self.gap_filler.queued)
            log.info(
                "feed=%s kind=%s received=%d accepted=%d rejected=%d dup=%d gaps=%d backfilled=%d "
                "unrecovered=%d backfill_queue=%d reconnects=%d flushed=%d spooled=%d pending=%d "
                "db_up=%s analytics_ms=%.1f",
                self.feed_name,
                self.kind,
                c["received"],
                c["accepted"],
                c["rejected"],
                c["duplicates"],
                c["gap_trades"],
                c["backfilled"],
                c["unrecovered"],
                self.gap_filler.queued,
                c["reconnects"],
                self.flusher.flushed_rows,
                self.flusher.spooled_rows,
                self.flusher.pending,
                self.flusher.db_up,
                self.live.last_cycle_ms,
            )

    async def _heartbeat(self) -> None:
        """Refresh the health hash every HEARTBEAT_S: the dashboard shows its age, and a
        beat only with the 30 s log summary made that age swing between 0 and 30 s.

        Checks `stop` itself: redis-py can swallow a cancellation that lands inside a
        pipeline (seen here: a heartbeat cancelled at shutdown went on beating, and the
        daemon never exited), so cancelling alone does not end this loop."""
        while not self.stop.is_set():
            await self._publish_health()
            await asyncio.sleep(self.HEARTBEAT_S)

    async def _publish_health(self) -> None:
        try:
            await self.redis_sink.publish_health(self.keys.feed_health, self.health_fields())
        except Exception as exc:
            log.debug("feed health not published: %s", exc)

    def health_fields(self) -> dict[str, str]:
        age = (time.time_ns() - self._last_trade_ns) / 1e9 if self._last_trade_ns else -1
        return {
            "feed": self.feed_name,
            "stream": self.kind,
            "url": self.settings.feed_url,
            "last_trade_age_s": f"{age:.1f}",
            "accepted": str(self.counts["accepted"]),
            "rejected": str(self.counts["rejected"]),
            "updated": f"{time.time():.3f}",
        }

    def health(self) -> dict[str, Any]:
        """The /health document; `ok` is false with every reason listed in `problems`."""
        self.metrics.backfill_queue.set(self.gap_filler.queued)
        connected = sum(1 for c in self.connections if c.connected)
        silent_now = sorted({s for c in self.connections for s in c.silent_now})
        f = self.flusher
        problems: list[str] = []
        if connected != len(self.connections):
            problems.append(f"{len(self.connections) - connected} feed connection(s) down")
        if self.stop.is_set():
            problems.append("stopping")
        if silent_now:
            problems.append(f"silent streams: {', '.join(silent_now)}")
        if not f.db_up:
            problems.append(f"database down: {f.last_error}")
        if f.spool_alarm:
            problems.append(
                f"spool at {f.spool_bytes} bytes, past the alarm at {f.spool_alarm_bytes}"
            )
        if f.dropped_rows:
            problems.append(f"{f.dropped_rows} trades dropped (database, memory and spool full)")
        problems.extend(f"task {name}: {why}" for name, why in self.tasks.problems().items())
        remote = self.remote_legs
        if remote is not None:
            problems.extend(remote.problems(self.settings.remote_stale_s))
        return {
            "ok": not problems,
            "problems": problems,
            "feed": self.feed_name,
            "simulated": self.feed_name == "simulator",
            "stream": self.kind,
            "feed_url": self.settings.feed_url,
            "connections": connected,
            "silent_streams": self.silent_streams,
            "silent_now": silent_now,
            "quiet_streams": self.quiet_streams,
            "counts": self.counts,
            "db_up": f.db_up,
            "pending_rows": f.pending,
            "spooled_rows": f.spooled_rows,
            "spool_rows": f.spool_rows,
            "spool_bytes": f.spool_bytes,
            "spool_alarm": f.spool_alarm,
            "dropped_rows": f.dropped_rows,
            "backfill_queue": self.gap_filler.queued,
            "venue_clock_offset_ms": self.venue_clock.offset_ms,
            "redis_up": self.redis_sink.up,
            "analytics_cycle_ms": self.live.last_cycle_ms,
            "analytics_age_s": round(time.time() - self.live.snapshot_time, 1)
            if self.live.snapshot_time
            else None,
            "tasks": self.tasks.report(),
            "remote_legs": remote.status(self.settings.remote_stale_s) if remote else {},
            "uptime_s": round(time.time() - self.started, 1),
        }

    def _plan(self) -> list[FeedConnection]:
        s = self.settings
        plans = plan_connections(s.feed_url, self.kind, list(s.symbols))
        quiet = frozenset(
            f"{q.lower()}@{k}" for q in s.quiet_symbols for k in ("trade", "aggTrade")
        )
        conns = []
        for i, plan in enumerate(plans):
            symbols = plan.symbols

            def url_for(symbols: list[str] = symbols) -> tuple[str, str, list[str]]:
                p = plan_connections(s.feed_url, self.kind, symbols)[0]
                return p.route, p.url, p.streams

            events = ConnectionEvents(
                self.on_frame,
                self._on_connected,
                self._on_silent,
                self._on_failure,
                self._on_quiet,
            )
            # one backoff per connection: one bad route never slows (or ends) another's retries
            backoff = Backoff(s.reconnect_base_s, s.reconnect_cap_s, s.max_consecutive_failures)
            conns.append(
                FeedConnection(
                    f"feed-{i}",
                    url_for,
                    events,
                    backoff,
                    s.stream_silence_s,
                    s.quiet_symbol_silence_s,
                    quiet,
                    s.connection_max_age_s,
                    healthy_s=s.reconnect_healthy_s,
                )
            )
        return conns

    def request_stop(self) -> None:
        self.stop.set()

    def _task_gave_up(self, name: str, why: str) -> None:
        """A background task spent its restart budget: stop, flush, exit 1 (a crash)."""
        self.exit_code = 1
        self.stop.set()

    def _note_feed_failures(self, done: set[asyncio.Task[Any]]) -> None:
        """A feed task that ended by itself failed: log why and exit non-zero.

        Too many failed connects exits EX_TEMPFAIL (75): the venue is unreachable,
        not the daemon broken, so the supervisor restarts it without counting a crash.
        """
        for task in done:
            if task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, TooManyFailures):
                log.critical(
                    "feed failed: %s; exit %d (temporary: the supervisor restarts the daemon, "
                    "which backfills from the newest stored ids)",
                    exc,
                    EXIT_TEMPFAIL,
                )
                self.exit_code = EXIT_TEMPFAIL
            elif exc is not None:
                log.critical("feed task crashed: %r", exc)
                self.exit_code = 1

    async def run(self, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT or a fatal feed error; flush everything before returning."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        log.info(
            "ingestion daemon: %s feed at %s, %s streams for %s",
            self.feed_name,
            self.settings.feed_url,
            self.kind,
            ",".join(self.settings.symbols),
        )
        server = HealthServer(
            self.settings.bind_host, self.metrics_port, self.registry, self.health
        )
        await server.start()
        self.metrics_port = server.port
        await self.flusher.start()
        await self.redis_sink.start()
        await self.venue_clock.sync()
        await self.resume_from_store()
        self.connections = self._plan()
        feed_tasks = [asyncio.create_task(c.run(self.stop), name=c.name) for c in self.connections]
        keep = self.tasks.spawn
        helpers = [
            keep("flusher", lambda: _watch(self.flusher)),
            keep("redis-sink", lambda: _watch(self.redis_sink)),
            keep("backfill", self.gap_filler.run),
            keep("venue-clock", self.venue_clock.run),
            keep("summary", self._summary),
            keep("heartbeat", self._heartbeat),
            keep("analytics", lambda: self.live.run(self.stop, self.buffer.recent_arrays)),
        ]
        if self.remote_legs is not None:
            reader = self.remote_legs
            helpers.append(keep("remote-legs", lambda: reader.run(self.stop)))
        alert_task = None
        if self.alert_loop is not None:
            alert_task = keep("alerts", lambda: self.alert_loop.run(self.stop))
        helpers += [keep(name, lambda f=f: f(self.stop)) for name, f in self.side_tasks]
        stopper = asyncio.create_task(self.stop.wait())
        done, _ = await asyncio.wait([stopper, *feed_tasks], return_when=asyncio.FIRST_COMPLETED)
        self._note_feed_failures(done - {stopper})
        self.stop.set()
        if alert_task is not None:
            # The alert loop sees `stop` between cycles; cancelling it mid-cycle would
            # leave an event in the table but not on the stream or with the sinks.
            await asyncio.wait({alert_task}, timeout=self.ALERT_STOP_GRACE_S)
            helpers.append(alert_task)
        await self._cancel_all([*feed_tasks, *helpers, stopper])
        self.live.close()
        self._warn_queued_gaps()
        log.info("stopping: flushing %d pending trades", self.flusher.pending)
        await self.flusher.close()
        await self.redis_sink.close()
        await self.cache.close()
        if self.remote_legs is not None:
            await self.remote_legs.close()
        await self.backfiller.close()
        await server.stop()
        log.info("ingestion daemon stopped (exit %d): %s", self.exit_code, self.counts)
        return self.exit_code

    async def _cancel_all(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Cancel `tasks` and wait for them, at most TASK_STOP_GRACE_S.

        A task that swallows its cancellation (a library catching CancelledError) would
        otherwise hold the daemon forever before its flush and exit: during an outage a
        daemon that never exits is never restarted, and nothing is backfilled. The
        stragglers are named in an ERROR and left behind; the flush goes on.
        """
        for task in tasks:
            task.cancel()
        done, stuck = await asyncio.wait(tasks, timeout=self.TASK_STOP_GRACE_S)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" noise
        self.stragglers = sorted(t.get_name() for t in stuck)
        if stuck:
            log.error(
                "%d task(s) ignored cancellation for %.0f s (%s); stopping without them",
                len(stuck),
                self.TASK_STOP_GRACE_S,
                ", ".join(self.stragglers),
            )


async def _watch(sink: Any) -> None:
    """Supervise a sink's own background task: (re)start it, then wait for it to end.

    Raises whatever ended the task (its exception, or RuntimeError if it just
    returned), so the supervisor logs it and calls this again, which restarts it.
    """
    task = sink._task  # noqa: SLF001 - the sinks own their task; this only watches it
    if task is None or task.done():
        sink._task = None  # noqa: SLF001
        await sink.start()
        task = sink._task  # noqa: SLF001
    await asyncio.shield(task)  # cancelling the watcher must not cancel the sink
    raise RuntimeError(f"{type(sink).__name__} task ended")
