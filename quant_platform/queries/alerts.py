"""Alert events for the live feed, and the `alert_rules` CRUD the dashboard's editor uses.

Rules are validated before they reach the table so the editor can show every
problem at once; custom expressions go through the alert engine's own parser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from quant_platform.alerts.expression import (
    PAIR_METRICS,
    SYMBOL_METRICS,
    ExpressionError,
    compile_expression,
)
from quant_platform.domain.alert import RuleKind, Severity

RULE_KINDS = tuple(k.value for k in RuleKind)
SEVERITIES = tuple(s.value for s in Severity)
EVENT_COLUMNS = [
    "id",
    "time",
    "severity",
    "rule_name",
    "kind",
    "target",
    "message",
    "source",
    "metrics",
]
RULE_COLUMNS = [
    "id",
    "name",
    "kind",
    "target",
    "params",
    "expression",
    "severity",
    "cooldown_s",
    "repeat_s",
    "enabled",
    "updated_at",
]

# Names a custom expression may use: exactly what the alert engine's evaluator knows.
EXPRESSION_METRICS = PAIR_METRICS | SYMBOL_METRICS

# The one numeric parameter each threshold kind takes, and its allowed open range.
KIND_PARAM: dict[str, tuple[str, float, float, str]] = {
    "zscore": ("threshold", 0.0, math.inf, "|z-score| at or above which the rule fires"),
    "correlation_break": ("threshold", -1.0, 1.0, "rolling correlation below which it fires"),
    "volatility_spike": ("ratio", 1.0, math.inf, "short/long realised-vol ratio to fire at"),
    "cointegration_break": ("pvalue", 0.0, 1.0, "cointegration p-value above which it fires"),
    "stale_feed": ("max_age_s", 0.0, math.inf, "seconds without trades before it fires"),
}
PAIR_KINDS = frozenset({"zscore", "correlation_break", "cointegration_break"})
SYMBOL_KINDS = frozenset({"volatility_spike", "stale_feed"})


class RuleValidationError(ValueError):
    """A rule draft with one or more problems, each a sentence for the user."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class RuleDraft:
    name: str
    kind: str
    target: str = "*"
    params: dict[str, Any] = field(default_factory=dict)
    expression: str | None = None
    severity: str = "warning"
    cooldown_s: float = 60.0
    enabled: bool = True
    repeat_s: float | None = None  # re-fire every N s while active; None: fire once


def expression_errors(expression: str) -> list[str]:
    """Problems with a custom condition, from the alert engine's own parser.

    The editor must never accept what the engine would refuse (or the reverse),
    so this delegates to `compile_expression`; nothing is evaluated here.
    """
    text = expression.strip()
    if not text:
        return ["a custom rule needs an expression, e.g. abs(zscore) > 2 and correlation > 0.7"]
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return [f"expression: {exc}"]
    return []


def validate_rule(draft: RuleDraft, symbols: list[str], pairs: list[str]) -> list[str]:
    """Every problem with a draft; [] when it can be stored. Pairs are written Y/X."""
    return [
        *_header_errors(draft),
        *_target_errors(draft, symbols, pairs),
        *_param_errors(draft),
        *_expression_field_errors(draft),
    ]


def _header_errors(draft: RuleDraft) -> list[str]:
    """Name, kind, severity, cooldown and repeat."""
    errors: list[str] = []
    name = draft.name.strip()
    if not name:
        errors.append("name is required")
    elif len(name) > 80 or not all(c.isalnum() or c in "-_. " for c in name):
        errors.append("name: up to 80 letters, digits, spaces, - _ .")
    if draft.kind not in RULE_KINDS:
        errors.append(f"kind must be one of {', '.join(RULE_KINDS)}")
    if draft.severity not in SEVERITIES:
        errors.append(f"severity must be one of {', '.join(SEVERITIES)}")
    if not (_is_number(draft.cooldown_s) and 0 <= draft.cooldown_s <= 86_400):
        errors.append("cooldown must be between 0 and 86400 seconds")
    if draft.repeat_s is not None and not (
        _is_number(draft.repeat_s) and 0 < draft.repeat_s <= 86_400
    ):
        errors.append("repeat must be between 0 and 86400 seconds (empty: fire once)")
    return errors


def _target_errors(draft: RuleDraft, symbols: list[str], pairs: list[str]) -> list[str]:
    """The target must be '*' or something the rule's kind can watch."""
    target = draft.target
    if draft.kind in PAIR_KINDS and target != "*" and target not in pairs:
        return [f"target of a {draft.kind} rule must be '*' or a pair ({', '.join(pairs)})"]
    if draft.kind in SYMBOL_KINDS and target != "*" and target not in symbols:
        return [f"target of a {draft.kind} rule must be '*' or a symbol ({', '.join(symbols)})"]
    if draft.kind == "custom" and target not in ("*", *pairs, *symbols):
        return ["target of a custom rule must be '*', a pair or a symbol"]
    if draft.kind == "run_failure" and target != "*":
        return ["a run_failure rule applies to every run: target must be '*'"]
    return []


def _param_errors(draft: RuleDraft) -> list[str]:
    """The one numeric parameter of a threshold kind, inside its open range."""
    if draft.kind not in KIND_PARAM:
        return []
    key, lo, hi, meaning = KIND_PARAM[draft.kind]
    value = draft.params.get(key)
    if not _is_number(value) or not math.isfinite(value):
        return [f"{key} is required: the {meaning}"]
    if not lo < value < hi:
        upper = f" and less than {hi:g}" if math.isfinite(hi) else ""
        return [f"{key} must be greater than {lo:g}{upper} (the {meaning})"]
    return []


def _expression_field_errors(draft: RuleDraft) -> list[str]:
    if draft.kind == "custom":
        return expression_errors(draft.expression or "")
    if draft.expression:
        return ["only custom rules take an expression"]
    return []


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def add_rule(
    conn: psycopg.Connection, draft: RuleDraft, symbols: list[str], pairs: list[str]
) -> int:
    """Validate and insert a rule; returns its id.

    Raises:
        RuleValidationError: the draft has problems (all of them listed), or the name is taken."""
    errors = validate_rule(draft, symbols, pairs)
    if errors:
        raise RuleValidationError(errors)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO alert_rules (name, kind, target, params, expression, severity,"
                " cooldown_s, repeat_s, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    draft.name.strip(),
                    draft.kind,
                    draft.target,
                    Jsonb(draft.params),
                    (draft.expression or "").strip() or None,
                    draft.severity,
                    float(draft.cooldown_s),
                    None if draft.repeat_s is None else float(draft.repeat_s),
                    draft.enabled,
                ),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise RuleValidationError([f"a rule named {draft.name.strip()!r} already exists"]) from None
    return int(row[0])


def list_rules(conn: psycopg.Connection) -> pd.DataFrame:
    """All rules, by name."""
    rows = conn.execute(
        "SELECT id, name, kind, target, params, expression, severity, cooldown_s, repeat_s,"
        " enabled, updated_at FROM alert_rules ORDER BY name"
    ).fetchall()
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def set_rule_enabled(conn: psycopg.Connection, rule_id: int, enabled: bool) -> bool:
    """Enable or disable one rule; False when it no longer exists."""
    cur = conn.execute(
        "UPDATE alert_rules SET enabled = %s, updated_at = now() WHERE id = %s",
        (bool(enabled), int(rule_id)),
    )
    return cur.rowcount == 1


def delete_rule(conn: psycopg.Connection, rule_id: int) -> bool:
    """Delete one rule; False when it was already gone."""
    return conn.execute("DELETE FROM alert_rules WHERE id = %s", (int(rule_id),)).rowcount == 1


def recent_alert_events(
    conn: psycopg.Connection, limit: int = 100, since: datetime | None = None
) -> pd.DataFrame:
    """The newest alert events first (daemon and Dagster alike)."""
    rows = conn.execute(
        "SELECT id, time, severity, rule_name, kind, target, message, source, metrics"
        " FROM alert_events"
        " WHERE (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)"
        " ORDER BY time DESC, id DESC LIMIT %(limit)s",
        {"since": since, "limit": int(limit)},
    ).fetchall()
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df
