"""Fast alerts: rules, a safe condition language, the engine, persistence and sinks.

The daemon wires it with `engine.build_alert_loop(settings, snapshot_fn)`, i.e.
`AlertLoop(AlertEngine(rules), snapshot_fn, AlertStore, AlertStream, sinks)`;
`snapshot.RedisSnapshotSource` reads the same snapshot from the analytics cache.
Dagster writes events with `AlertStore.insert_events` + `redis_stream.append_sync`
and delivers with `sinks.build_sinks` + `sinks.deliver_sync`. Submodules import
heavy dependencies (psycopg, redis, httpx), so import what you need from them directly.
"""

from quant_platform.alerts.engine import AlertEngine, AlertEvent, AlertLoop
from quant_platform.alerts.expression import Expression, ExpressionError, compile_expression
from quant_platform.alerts.rules import AlertRule, RuleError, load_rules_yaml

__all__ = [
    "AlertEngine",
    "AlertEvent",
    "AlertLoop",
    "AlertRule",
    "Expression",
    "ExpressionError",
    "RuleError",
    "compile_expression",
    "load_rules_yaml",
]
