"""Build the daemon's alert loop from Settings: rules, store, stream and sinks.

Kept apart from `alerts.loop` so the loop imports no database or Redis driver
and can be run in tests on any objects that satisfy `alerts.ports`.
"""

from __future__ import annotations

import logging

from quant_platform.alerts.engine import AlertEngine
from quant_platform.alerts.loop import AlertLoop, SnapshotFn
from quant_platform.alerts.redis_stream import AlertStream
from quant_platform.alerts.rules import load_rules_yaml
from quant_platform.alerts.sinks import build_sinks, load_sink_specs
from quant_platform.alerts.store import AlertStore
from quant_platform.config.settings import Settings
from quant_platform.storage.redis_keys import RedisKeys

log = logging.getLogger(__name__)


def build_alert_loop(settings: Settings, snapshot_fn: SnapshotFn) -> AlertLoop:
    """The daemon's loop from Settings: rules from the table (seeded from
    QP_ALERT_RULES_FILE, whose rules are added only when absent so dashboard/CLI
    edits win), sinks from that file's `sinks:` list (log only by default).

    With the database down at start, the file's rules are used until a reload succeeds.
    """
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
