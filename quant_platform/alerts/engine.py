"""The fast alert engine (pure, clock-injectable) and the daemon's async loop around it.

`AlertEngine.evaluate` is synchronous and side-effect free apart from its own
state (hysteresis, cooldown, baselines, rate limits), so it can be tested on
constructed metric series with a fake clock. `AlertLoop` adds the I/O:
persistence in a worker thread, the Redis stream, and sinks behind bounded
queues with one worker task each, so a slow or dead sink never delays the
500 ms check cycle.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from quant_platform.alerts.ratelimit import RateLimit, TokenBucket
from quant_platform.alerts.rules import ENGINE_KINDS, AlertRule

log = logging.getLogger(__name__)

MetricSnapshot = Mapping[str, Mapping[str, float]]
DEFAULT_PER_RULE_RATE = RateLimit(rate_per_s=10 / 60, burst=10)
DEFAULT_GLOBAL_RATE = RateLimit(rate_per_s=1.0, burst=30)
GLOBAL_KEY = "*"


@dataclass(frozen=True)
class AlertEvent:
    """One fired alert; `time` is epoch seconds, `metrics` the values that fired it."""

    rule_name: str
    rule_id: int | None
    kind: str
    target: str
    severity: str
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0
    source: str = "daemon"

    @property
    def time_dt(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = self.time_dt.isoformat()
        d["metrics"] = json_safe(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertEvent:
        """From a stream entry / DB row (time as ISO text, datetime, epoch s or ms)."""
        t = d.get("time")
        if isinstance(t, datetime):
            ts = t.timestamp()
        elif isinstance(t, int | float):
            ts = float(t)
        else:
            try:
                ts = datetime.fromisoformat(str(t)).timestamp()
            except (TypeError, ValueError):
                try:
                    ts = float(str(t))
                    ts = ts / 1000 if ts > 1e11 else ts
                except ValueError:
                    ts = time.time()
        metrics = d.get("metrics") or {}
        rid = d.get("rule_id")
        return cls(
            rule_name=str(d.get("rule_name", "?")),
            rule_id=int(rid) if rid not in (None, "") else None,
            kind=str(d.get("kind", "?")),
            target=str(d.get("target", "")),
            severity=str(d.get("severity", "warning")),
            message=str(d.get("message", "")),
            metrics=dict(metrics) if isinstance(metrics, Mapping) else {"raw": str(metrics)},
            time=ts,
            source=str(d.get("source", "daemon")),
        )


def json_safe(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """jsonb has no NaN/inf: NaN -> null, inf -> "inf" (same rule as the Dagster writer)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None if math.isnan(v) else str(v)
        elif isinstance(v, datetime):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


@dataclass
class _State:
    armed: bool = True
    last_fired: float | None = None
    baseline: float | None = None


def _limit(spec: RateLimit | tuple[float, float] | None) -> RateLimit | None:
    return None if spec is None else RateLimit(*spec)


class AlertEngine:
    """Evaluates rules on metric snapshots: hysteresis, cooldown, rate limits."""

    def __init__(
        self,
        rules: Iterable[AlertRule] = (),
        default_cooldown_s: float = 60.0,
        per_rule_rate: RateLimit | tuple[float, float] | None = DEFAULT_PER_RULE_RATE,
        global_rate: RateLimit | tuple[float, float] | None = DEFAULT_GLOBAL_RATE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.default_cooldown_s = float(default_cooldown_s)
        self.per_rule_rate = _limit(per_rule_rate)
        self.clock = clock
        gl = _limit(global_rate)
        self._global = TokenBucket(gl.rate_per_s, gl.burst, clock) if gl else None
        self._buckets: dict[str, TokenBucket] = {}
        self._state: dict[tuple[str, str], _State] = {}
        self.rules: tuple[AlertRule, ...] = ()
        self.fired = 0
        self.set_rules(rules)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rule set; state survives for rules whose definition is unchanged."""
        new = tuple(rules)
        old = {r.name: r for r in self.rules}
        keep = {r.name for r in new if old.get(r.name) == r}
        self._state = {k: v for k, v in self._state.items() if k[0] in keep}
        names = {r.name for r in new}
        self._buckets = {k: v for k, v in self._buckets.items() if k in names}
        self.rules = new

    @property
    def suppressed(self) -> Counter[str]:
        """Suppressed events per rule name, and the global limiter's under `"*"`."""
        c: Counter[str] = Counter(
            {k: b.suppressed for k, b in self._buckets.items() if b.suppressed}
        )
        if self._global and self._global.suppressed:
            c[GLOBAL_KEY] = self._global.suppressed
        return c

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    def _admit(self, rule: AlertRule, now: float) -> bool:
        bucket = None
        if self.per_rule_rate is not None:
            bucket = self._buckets.get(rule.name)
            if bucket is None:
                bucket = TokenBucket(
                    self.per_rule_rate.rate_per_s, self.per_rule_rate.burst, self.clock
                )
                self._buckets[rule.name] = bucket
            if not bucket.peek(now):
                bucket.suppressed += 1
                return False
        if self._global is not None and not self._global.allow(now):
            return False
        if bucket is not None:
            bucket.take(now)
        return True

    def _targets(self, rule: AlertRule, snapshot: MetricSnapshot) -> list[str]:
        if rule.target != "*":
            return [rule.target] if rule.target in snapshot else []
        want_pair = rule.scope == "pair"
        return [t for t in snapshot if ("/" in t) == want_pair]

    def evaluate(self, snapshot: MetricSnapshot, now: float | None = None) -> list[AlertEvent]:
        """All events fired by this snapshot at `now` (epoch s; default the clock)."""
        now = self.clock() if now is None else float(now)
        events: list[AlertEvent] = []
        for rule in self.rules:
            if not rule.enabled or rule.kind not in ENGINE_KINDS:
                continue
            for target in self._targets(rule, snapshot):
                ev = self._evaluate_one(rule, target, snapshot[target], now)
                if ev is not None:
                    events.append(ev)
        self.fired += len(events)
        return events

    def _evaluate_one(
        self, rule: AlertRule, target: str, metrics: Mapping[str, float], now: float
    ) -> AlertEvent | None:
        st = self._state.get((rule.name, target))
        if st is None:
            st = self._state[(rule.name, target)] = _State()
        chk = rule.check(metrics, st.baseline)
        if rule.kind == "correlation_break" and "baseline" not in rule.effective:
            self._update_baseline(rule, st, metrics, firing=bool(chk and chk.fire))
        if chk is None:
            return None
        if not st.armed:
            if not chk.clear:
                return None
            st.armed = True
        if not chk.fire:
            return None
        cooldown = self.default_cooldown_s if rule.cooldown_s is None else rule.cooldown_s
        if st.last_fired is not None and now - st.last_fired < cooldown:
            return None  # stays armed: fires when the cooldown ends if still true
        # Suppressed or not, the firing counts for hysteresis and cooldown, so a
        # flood is counted once per crossing rather than every cycle.
        st.armed = False
        st.last_fired = now
        if not self._admit(rule, now):
            return None
        values: dict[str, Any] = {
            k: _num(metrics.get(k)) for k in rule.relevant_metrics() if k in metrics
        }
        if math.isfinite(chk.threshold):
            values["threshold"] = chk.threshold
        if rule.kind == "correlation_break":
            base = rule.effective.get("baseline", st.baseline)
            if base is not None:
                values["baseline"] = base
        return AlertEvent(
            rule_name=rule.name,
            rule_id=rule.id,
            kind=rule.kind,
            target=target,
            severity=rule.severity,
            message=f"{target}: {chk.message}",
            metrics=values,
            time=now,
            source="daemon",
        )

    @staticmethod
    def _update_baseline(
        rule: AlertRule, st: _State, metrics: Mapping[str, float], firing: bool
    ) -> None:
        """EWMA of correlation, frozen while the break is active so it is not chased down."""
        c = _num(metrics.get("correlation"))
        if not math.isfinite(c) or firing or not st.armed:
            return
        alpha = float(rule.effective.get("baseline_alpha", 0.01))
        st.baseline = c if st.baseline is None else st.baseline + alpha * (c - st.baseline)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


class AlertLoop:
    """The daemon's check cycle: evaluate, persist, stream, hand to sinks.

    `store` (AlertStore), `stream` (AlertStream) and sinks are optional so the
    loop also runs without a database or Redis. Events the database refused are
    kept (bounded) and retried next cycle; they are still streamed and delivered
    at once, because an alert that waits for the database is a late alert.
    """

    def __init__(
        self,
        engine: AlertEngine,
        snapshot_fn: Callable[[], Any],
        store: Any | None = None,
        stream: Any | None = None,
        sinks: Sequence[Any] = (),
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
        self.queues: list[asyncio.Queue[tuple[int | None, AlertEvent]]] = []
        self.cycles = 0
        self.cycle_starts: deque[float] = deque(maxlen=1000)  # monotonic, for health/tests
        self.dropped: Counter[str] = Counter()  # per sink, queue full
        self.deliveries: list[Any] = []  # last results (bounded), for health/tests
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

    def _make_queues(self) -> list[tuple[Any, asyncio.Queue]]:
        self.queues = [asyncio.Queue(maxsize=self.queue_size) for _ in self.sinks]
        return list(zip(self.sinks, self.queues, strict=True))

    async def run_cycle(self) -> list[tuple[int | None, AlertEvent]]:
        """One evaluation; returns (event id or None, event) for what fired."""
        self.cycles += 1
        self.cycle_starts.append(time.monotonic())
        snap = self.snapshot_fn()
        if inspect.isawaitable(snap):
            snap = await snap
        events = self.engine.evaluate(snap or {})
        ids = await self._persist(events)
        fired = list(zip(ids, events, strict=True))
        if fired and self.stream is not None:
            await self.stream.append(fired)
        for item in fired:
            for sink, q in zip(self.sinks, self.queues, strict=False):
                try:
                    q.put_nowait(item)
                except asyncio.QueueFull:
                    self.dropped[getattr(sink, "name", str(sink))] += 1
                    log.warning(
                        "alert sink %s is behind; event dropped", getattr(sink, "name", sink)
                    )
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

    async def _sink_worker(self, sink: Any, q: asyncio.Queue) -> None:
        name = getattr(sink, "name", type(sink).__name__)
        while True:
            event_id, event = await q.get()
            try:
                result = await sink.send(event, event_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a sink bug must not kill its worker
                log.exception("alert sink %s failed", name)
                from quant_platform.alerts.sinks import DeliveryResult

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


def build_alert_loop(settings: Any, snapshot_fn: Callable[[], Any]) -> AlertLoop:
    """The daemon's loop from Settings: rules from the table (seeded from
    QP_ALERT_RULES_FILE, whose rules are added only when absent so dashboard/CLI
    edits win), sinks from that file's `sinks:` list (log only by default).

    With the database down at start, the file's rules are used until a reload succeeds.
    """
    from quant_platform.alerts.redis_stream import AlertStream
    from quant_platform.alerts.rules import load_rules_yaml
    from quant_platform.alerts.sinks import build_sinks, load_sink_specs
    from quant_platform.alerts.store import AlertStore
    from quant_platform.storage.redis_keys import RedisKeys

    path = settings.alert_rules_file
    file_rules = load_rules_yaml(path) if path is not None else []
    store = AlertStore(settings.database_url, default_cooldown_s=settings.alert_cooldown_s)
    try:
        store.seed_rules(file_rules)
        rules = store.list_rules(enabled_only=True)
    except Exception as exc:  # database down: run on the file's rules for now
        log.warning("alert rules from %s only (database unavailable: %s)", path, exc)
        rules = [r for r in file_rules if r.enabled]
    sinks = build_sinks(load_sink_specs(path), deliver_from="daemon")
    engine = AlertEngine(rules, default_cooldown_s=settings.alert_cooldown_s)
    stream = AlertStream(
        settings.redis_url, RedisKeys(settings.redis_prefix), maxlen=settings.redis_stream_maxlen
    )
    log.info(
        "alerts: %d rule(s), sinks %s, every %.2fs",
        len(rules),
        ", ".join(s.name for s in sinks),
        settings.alert_interval_s,
    )
    return AlertLoop(
        engine,
        snapshot_fn,
        store=store,
        stream=stream,
        sinks=sinks,
        interval_s=settings.alert_interval_s,
    )
