"""The alert engine: pure, clock-injectable rule evaluation (the Sans-I/O core).

`AlertEngine.evaluate` is synchronous and side-effect free apart from its own
state (hysteresis, cooldown, repeat, baselines, rate limits), so it can be tested
on constructed metric series with a fake clock. The I/O around it lives in
`alerts.loop` (the daemon's async cycle) and `alerts.wiring` (building both
from Settings), as python-websockets keeps its protocol apart from its
connections.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from quant_platform.alerts.ratelimit import RateLimit, TokenBucket
from quant_platform.alerts.rules import AlertRule, Check
from quant_platform.domain.alert import ENGINE_KINDS, AlertEvent, RuleKind
from quant_platform.domain.coerce import as_float

MetricSnapshot = Mapping[str, Mapping[str, float]]
DEFAULT_PER_RULE_RATE = RateLimit(rate_per_s=10 / 60, burst=10)
DEFAULT_GLOBAL_RATE = RateLimit(rate_per_s=1.0, burst=30)
GLOBAL_KEY = "*"


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
        st = self._state.setdefault((rule.name, target), _State())
        chk = rule.check(metrics, st.baseline)
        if rule.kind is RuleKind.CORRELATION_BREAK and "baseline" not in rule.effective:
            self._update_baseline(rule, st, metrics, firing=bool(chk and chk.fire))
        if chk is None:
            return None
        repeat = not st.armed
        if not self._due(rule, st, chk, now):
            return None
        # Suppressed or not, the firing counts for hysteresis and cooldown, so a
        # flood is counted once per crossing rather than every cycle.
        st.armed = False
        st.last_fired = now
        if not self._admit(rule, now):
            return None
        return self._event(rule, target, metrics, chk, st.baseline, now, repeat)

    def _due(self, rule: AlertRule, st: _State, chk: Check, now: float) -> bool:
        """Whether this check fires: once per activation, plus `repeat_s` repeats.

        A fired rule is disarmed until its condition clears (hysteresis). While it
        stays active it fires again only if the rule has `repeat_s`, every
        `max(repeat_s, cooldown)` seconds. An armed rule fires when the condition
        holds and the cooldown since its last firing has passed.
        """
        cooldown = self.default_cooldown_s if rule.cooldown_s is None else rule.cooldown_s
        since = math.inf if st.last_fired is None else now - st.last_fired
        if not st.armed:
            if chk.clear:
                st.armed = True
            else:
                return (
                    chk.fire and rule.repeat_s is not None and since >= max(rule.repeat_s, cooldown)
                )
        # stays armed inside the cooldown: fires when it ends if still true
        return chk.fire and since >= cooldown

    @staticmethod
    def _event(
        rule: AlertRule,
        target: str,
        metrics: Mapping[str, float],
        chk: Check,
        learned_baseline: float | None,
        now: float,
        repeat: bool,
    ) -> AlertEvent:
        values: dict[str, Any] = {
            k: as_float(metrics.get(k)) for k in rule.relevant_metrics() if k in metrics
        }
        if math.isfinite(chk.threshold):
            values["threshold"] = chk.threshold
        if rule.kind is RuleKind.CORRELATION_BREAK:
            base = rule.effective.get("baseline", learned_baseline)
            if base is not None:
                values["baseline"] = base
        message = f"{target}: {chk.message}"
        if repeat:
            message += f" (still active; repeats every {rule.repeat_s:g} s)"
        return AlertEvent(
            rule_name=rule.name,
            rule_id=rule.id,
            kind=rule.kind,
            target=target,
            severity=rule.severity,
            message=message,
            metrics=values,
            time=now,
            source="daemon",
        )

    @staticmethod
    def _update_baseline(
        rule: AlertRule, st: _State, metrics: Mapping[str, float], firing: bool
    ) -> None:
        """EWMA of correlation, frozen while the break is active so it is not chased down."""
        c = as_float(metrics.get("correlation"))
        if not math.isfinite(c) or firing or not st.armed:
            return
        alpha = float(rule.effective.get("baseline_alpha", 0.01))
        st.baseline = c if st.baseline is None else st.baseline + alpha * (c - st.baseline)
