"""The alert vocabulary every layer shares: rule kinds, severities and the fired event.

The engine produces `AlertEvent`s, the store, the Redis stream and the sinks
consume them, and the Dagster jobs rebuild them from run config; keeping the
type here (importing nothing from the project) is what lets all of them type
against it without importing each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class RuleKind(StrEnum):
    """What a rule watches. The first four run in the daemon's engine, the rest in Dagster."""

    ZSCORE = "zscore"
    CORRELATION_BREAK = "correlation_break"
    VOLATILITY_SPIKE = "volatility_spike"
    CUSTOM = "custom"
    COINTEGRATION_BREAK = "cointegration_break"
    STALE_FEED = "stale_feed"
    RUN_FAILURE = "run_failure"

    @property
    def in_engine(self) -> bool:
        """True for the kinds the daemon's 500 ms engine evaluates."""
        return self in ENGINE_KINDS


ENGINE_KINDS: frozenset[RuleKind] = frozenset(
    {RuleKind.ZSCORE, RuleKind.CORRELATION_BREAK, RuleKind.VOLATILITY_SPIKE, RuleKind.CUSTOM}
)


class Severity(StrEnum):
    """How loud an alert is; sinks map it to log levels and colours."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


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


def _epoch_seconds(t: object) -> float:
    """A stored time (ISO text, datetime, epoch s or ms) as epoch seconds; now if unreadable."""
    if isinstance(t, datetime):
        return t.timestamp()
    if isinstance(t, int | float):
        return float(t)
    try:
        return datetime.fromisoformat(str(t)).timestamp()
    except (TypeError, ValueError):
        pass
    try:
        ts = float(str(t))
    except ValueError:
        return time.time()
    return ts / 1000 if ts > 1e11 else ts


@dataclass(frozen=True)
class AlertEvent:
    """One fired alert; `time` is epoch seconds, `metrics` the values that fired it."""

    rule_name: str
    rule_id: int | None
    kind: RuleKind
    target: str
    severity: Severity
    message: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    time: float = 0.0
    source: str = "daemon"

    def __post_init__(self) -> None:
        # Accept the plain strings of a DB row or a stream entry; store the enums.
        object.__setattr__(self, "kind", RuleKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))

    @property
    def time_dt(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enums as their values, time as ISO text, NaN/inf made jsonb-safe."""
        d = asdict(self)
        d["kind"] = self.kind.value
        d["severity"] = self.severity.value
        d["time"] = self.time_dt.isoformat()
        d["metrics"] = json_safe(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertEvent:
        """From a stream entry, a DB row or run config (time as ISO text, datetime, epoch s/ms).

        Raises:
            ValueError: `kind` or `severity` is not one of the known values.
        """
        metrics = d.get("metrics") or {}
        rid = d.get("rule_id")
        return cls(
            rule_name=str(d.get("rule_name", "?")),
            rule_id=int(rid) if rid not in (None, "") else None,
            kind=RuleKind(str(d.get("kind"))),
            target=str(d.get("target", "")),
            severity=Severity(str(d.get("severity", "warning"))),
            message=str(d.get("message", "")),
            metrics=dict(metrics) if isinstance(metrics, Mapping) else {"raw": str(metrics)},
            time=_epoch_seconds(d.get("time")),
            source=str(d.get("source", "daemon")),
        )


@dataclass(frozen=True)
class DeliveryResult:
    """One delivery outcome of one event through one sink, appended to its `deliveries`."""

    sink: str
    ok: bool
    attempts: int
    error: str | None
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
