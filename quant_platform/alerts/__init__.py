"""Fast alerts: rules, a safe condition language, the engine, persistence and sinks.

`engine` is the pure core, `loop` the daemon's async cycle around it (typed
against the protocols in `ports`), `wiring` builds both from Settings:
`wiring.build_alert_loop(settings, snapshot_fn)`, i.e.
`AlertLoop(AlertEngine(rules), snapshot_fn, AlertStore, AlertStream, sinks)`;
`snapshot.RedisSnapshotSource` reads the same snapshot from the analytics cache.
Dagster writes events with `AlertStore.insert_events` + `redis_stream.append_sync`
and delivers with `sinks.build_sinks` + `sinks.deliver_sync`. Submodules import
heavy dependencies (psycopg, redis, httpx), so import what you need from them directly.
"""

from quant_platform.alerts.engine import AlertEngine
from quant_platform.alerts.expression import Expression, ExpressionError, compile_expression
from quant_platform.alerts.rules import AlertRule, RuleError, load_rules_yaml

__all__ = [
    "AlertEngine",
    "AlertRule",
    "Expression",
    "ExpressionError",
    "RuleError",
    "compile_expression",
    "load_rules_yaml",
]
