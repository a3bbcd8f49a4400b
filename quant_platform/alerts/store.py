"""Alert rules and events in TimescaleDB (`alert_rules`, `alert_events`).

One short connection per call: calls are rare (rule edits, fired alerts,
deliveries), come from worker threads, and a fresh connection recovers from a
database restart without reconnect logic. Parameterised SQL only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from quant_platform.alerts.rules import AlertRule, RuleError, load_rules_yaml
from quant_platform.domain.alert import AlertEvent, json_safe

log = logging.getLogger(__name__)

_RULE_COLS = "id, name, kind, target, params, expression, severity, cooldown_s, repeat_s, enabled"
_UPSERT = """
INSERT INTO alert_rules (name, kind, target, params, expression, severity, cooldown_s,
                         repeat_s, enabled)
VALUES (%(name)s, %(kind)s, %(target)s, %(params)s, %(expression)s, %(severity)s,
        %(cooldown_s)s, %(repeat_s)s, %(enabled)s)
ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, target = EXCLUDED.target,
    params = EXCLUDED.params, expression = EXCLUDED.expression, severity = EXCLUDED.severity,
    cooldown_s = EXCLUDED.cooldown_s, repeat_s = EXCLUDED.repeat_s, enabled = EXCLUDED.enabled,
    updated_at = now()
RETURNING id, name, kind, target, params, expression, severity, cooldown_s, repeat_s, enabled
"""
_CREATE = _UPSERT.split("ON CONFLICT")[0] + "RETURNING " + _RULE_COLS
_SELECT_RULES = f"SELECT {_RULE_COLS} FROM alert_rules"  # noqa: S608 - a constant column list
_INSERT_EVENT = """
INSERT INTO alert_events (time, rule_id, rule_name, kind, target, severity, message,
                          metrics, source)
VALUES (%(time)s, %(rule_id)s, %(rule_name)s, %(kind)s, %(target)s, %(severity)s,
        %(message)s, %(metrics)s, %(source)s)
RETURNING id
"""

_INSERT_EVENT_ONCE = """
WITH found AS (
    SELECT id FROM alert_events
    WHERE time = %(time)s AND rule_name = %(rule_name)s AND target = %(target)s
    LIMIT 1
), ins AS (
    INSERT INTO alert_events (time, rule_id, rule_name, kind, target, severity, message,
                              metrics, source)
    SELECT %(time)s, %(rule_id)s, %(rule_name)s, %(kind)s, %(target)s, %(severity)s,
           %(message)s, %(metrics)s, %(source)s
    WHERE NOT EXISTS (SELECT 1 FROM found)
    RETURNING id
)
SELECT id FROM ins UNION ALL SELECT id FROM found
"""


class RuleExists(ValueError):
    """`create_rule` for a name already in the table."""


class AlertStore:
    """CRUD for rules, inserts and reads for events, delivery outcomes."""

    def __init__(
        self, database_url: str, connect_timeout_s: int = 3, default_cooldown_s: float = 60.0
    ) -> None:
        """`default_cooldown_s` (QP_ALERT_COOLDOWN_S) is stored for rules saved without one:
        the column is NOT NULL, so the default is fixed when the rule is saved."""
        self.database_url = database_url
        self.connect_timeout_s = connect_timeout_s
        self.default_cooldown_s = float(default_cooldown_s)

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(
            self.database_url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=self.connect_timeout_s,
        ) as conn:
            yield conn

    # --- rules ----------------------------------------------------------------

    def _rule_params(self, rule: AlertRule) -> dict[str, Any]:
        cooldown = self.default_cooldown_s if rule.cooldown_s is None else rule.cooldown_s
        return {
            "name": rule.name,
            "kind": rule.kind.value,
            "target": rule.target,
            "params": Jsonb(dict(rule.params)),
            "expression": rule.expression,
            "severity": rule.severity.value,
            "cooldown_s": cooldown,
            "repeat_s": rule.repeat_s,
            "enabled": rule.enabled,
        }

    @staticmethod
    def _to_rule(row: dict[str, Any]) -> AlertRule:
        return AlertRule(
            name=row["name"],
            kind=row["kind"],
            target=row["target"],
            params=row["params"] or {},
            expression=row["expression"],
            severity=row["severity"],
            cooldown_s=row["cooldown_s"],
            repeat_s=row.get("repeat_s"),
            enabled=row["enabled"],
            id=row["id"],
        )

    def create_rule(self, rule: AlertRule) -> AlertRule:
        """Insert a new rule; raises RuleExists if the name is taken."""
        try:
            with self._connect() as conn:
                row = conn.execute(_CREATE, self._rule_params(rule)).fetchone()
        except psycopg.errors.UniqueViolation:
            raise RuleExists(f"a rule named {rule.name!r} exists (use --replace)") from None
        return self._to_rule(row)

    def upsert_rule(self, rule: AlertRule) -> AlertRule:
        with self._connect() as conn:
            row = conn.execute(_UPSERT, self._rule_params(rule)).fetchone()
        return self._to_rule(row)

    def upsert_rules(self, rules: Iterable[AlertRule]) -> list[AlertRule]:
        """All or nothing, in one transaction."""
        out: list[AlertRule] = []
        with self._connect() as conn, conn.transaction():
            for rule in rules:
                out.append(self._to_rule(conn.execute(_UPSERT, self._rule_params(rule)).fetchone()))
        return out

    def seed_rules(self, rules: Iterable[AlertRule]) -> list[str]:
        """Insert rules whose name is not in the table yet; returns the names added."""
        added: list[str] = []
        with self._connect() as conn:
            for rule in rules:
                row = conn.execute(
                    _CREATE.replace("RETURNING", "ON CONFLICT (name) DO NOTHING RETURNING"),
                    self._rule_params(rule),
                ).fetchone()
                if row:
                    added.append(rule.name)
        return added

    def load_yaml(self, path: str | Path) -> list[AlertRule]:
        """Validate every rule in the file first, then upsert them together."""
        return self.upsert_rules(load_rules_yaml(path))

    def list_rules(self, enabled_only: bool = False) -> list[AlertRule]:
        """Rules by name; a row that no longer validates is logged and skipped."""
        sql = _SELECT_RULES + (" WHERE enabled" if enabled_only else "") + " ORDER BY name"
        with self._connect() as conn:
            rows = conn.execute(sql).fetchall()
        rules = []
        for row in rows:
            try:
                rules.append(self._to_rule(row))
            except RuleError as exc:
                log.warning("skipping invalid stored alert rule: %s", exc)
        return rules

    def get_rule(self, name: str) -> AlertRule | None:
        with self._connect() as conn:
            row = conn.execute(_SELECT_RULES + " WHERE name = %s", (name,)).fetchone()
        return self._to_rule(row) if row else None

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """True if the rule exists."""
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE alert_rules SET enabled = %s, updated_at = now() WHERE name = %s",
                (enabled, name),
            )
            return cur.rowcount > 0

    def delete_rule(self, name: str) -> bool:
        with self._connect() as conn:
            return conn.execute("DELETE FROM alert_rules WHERE name = %s", (name,)).rowcount > 0

    # --- events -----------------------------------------------------------------

    @staticmethod
    def _event_params(e: AlertEvent) -> dict[str, Any]:
        return {
            "time": e.time_dt,
            "rule_id": e.rule_id,
            "rule_name": e.rule_name,
            "kind": e.kind.value,
            "target": e.target,
            "severity": e.severity.value,
            "message": e.message,
            "metrics": Jsonb(json_safe(e.metrics)),
            "source": e.source,
        }

    def insert_event(self, event: AlertEvent) -> int:
        return self.insert_events([event])[0]

    def insert_events(self, events: Iterable[AlertEvent]) -> list[int]:
        """Insert in one transaction; returns the new ids in order."""
        ids: list[int] = []
        with self._connect() as conn, conn.transaction():
            for e in events:
                ids.append(int(conn.execute(_INSERT_EVENT, self._event_params(e)).fetchone()["id"]))
        return ids

    def insert_events_once(self, events: Iterable[AlertEvent]) -> list[int]:
        """Like `insert_events`, but an event already stored (same time, rule and target)
        is not inserted again; its existing id is returned instead.

        This makes a retried Dagster run that records alerts safe to re-execute.
        """
        ids: list[int] = []
        with self._connect() as conn, conn.transaction():
            for e in events:
                row = conn.execute(_INSERT_EVENT_ONCE, self._event_params(e)).fetchone()
                ids.append(int(row["id"]))
        return ids

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, as dicts (time as datetime, metrics and deliveries decoded)."""
        with self._connect() as conn:
            return conn.execute(
                "SELECT id, time, rule_id, rule_name, kind, target, severity, message, metrics, "
                "source, deliveries FROM alert_events ORDER BY time DESC, id DESC LIMIT %s",
                (max(1, int(limit)),),
            ).fetchall()

    def record_delivery(
        self, event_id: int, result: Any, event_time: datetime | None = None
    ) -> bool:
        """Append one delivery outcome (DeliveryResult or dict) to the event's `deliveries`.

        `event_time` narrows the update to one hypertable chunk when known.
        """
        if is_dataclass(result) and not isinstance(result, type):
            outcome = asdict(result)
        else:
            outcome = dict(result)
        outcome.setdefault("time", datetime.now(UTC).isoformat())
        outcome.setdefault("via", "daemon")  # Dagster's dispatch job writes via=dagster
        with self._connect() as conn:
            cur = conn.execute(
                "UPDATE alert_events SET deliveries = deliveries || %(d)s "
                "WHERE id = %(id)s AND (%(t)s::timestamptz IS NULL OR time = %(t)s)",
                {"d": Jsonb([json_safe(outcome)]), "id": event_id, "t": event_time},
            )
            return cur.rowcount > 0
