"""Alert events for the live feed, and the `alert_rules` CRUD the dashboard's editor uses.

Rules are validated before they reach the table so the editor can show every
problem at once; custom expressions are checked by parsing them into an AST
and allowing only comparisons and arithmetic over known metric names (nothing
is ever evaluated here).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

RULE_KINDS = ("zscore", "correlation_break", "volatility_spike", "custom",
              "cointegration_break", "stale_feed", "run_failure")  # fmt: skip
SEVERITIES = ("info", "warning", "critical")
EVENT_COLUMNS = ["id", "time", "severity", "rule_name", "kind", "target", "message", "source",
                 "metrics"]  # fmt: skip
RULE_COLUMNS = ["id", "name", "kind", "target", "params", "expression", "severity", "cooldown_s",
                "enabled", "updated_at"]  # fmt: skip

# Names a custom expression may use: the live engine's pair and symbol metrics.
EXPRESSION_METRICS = frozenset({
    "zscore", "hedge_ratio", "intercept", "spread", "spread_mean", "spread_std", "correlation",
    "adf_stat", "adf_pvalue", "coint_pvalue", "half_life", "n_obs", "last_price", "vwap",
    "imbalance", "vol_percentile", "realized_vol", "trend_direction", "trend_slope",
    "trend_pvalue", "n_trades", "price", "vol_short", "vol_long", "vol_ratio",
})  # fmt: skip
EXPRESSION_FUNCTIONS = frozenset({"abs", "min", "max"})

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


_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Compare, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.Eq, ast.NotEq, ast.Name, ast.Load, ast.Constant, ast.Call,
)  # fmt: skip


def expression_errors(expression: str) -> list[str]:
    """Problems with a custom condition such as `abs(zscore) > 2 and correlation > 0.7`."""
    text = expression.strip()
    if not text:
        return ["a custom rule needs an expression, e.g. abs(zscore) > 2 and correlation > 0.7"]
    if len(text) > 500:
        return ["the expression is longer than 500 characters"]
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return [f"expression syntax error at column {exc.offset or 0}: {exc.msg}"]
    errors: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            errors.append(f"expression: {type(node).__name__} is not allowed "
                          "(use metric names, numbers, + - * /, comparisons, and/or/not)")  # fmt: skip
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in EXPRESSION_FUNCTIONS:
                errors.append(f"expression: only {', '.join(sorted(EXPRESSION_FUNCTIONS))} may be called")
            elif node.keywords:
                errors.append("expression: functions take positional arguments only")
        elif isinstance(node, ast.Name) and node.id not in EXPRESSION_METRICS | EXPRESSION_FUNCTIONS:
            errors.append(f"expression: unknown metric {node.id!r}")
        elif isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                                 not isinstance(node.value, int | float)):  # fmt: skip
            errors.append(f"expression: only numbers are allowed as constants, got {node.value!r}")
    if not errors and not isinstance(tree.body, ast.Compare | ast.BoolOp | ast.UnaryOp):
        errors.append("expression must be a condition (a comparison such as zscore > 2)")
    return list(dict.fromkeys(errors))


def validate_rule(draft: RuleDraft, symbols: list[str], pairs: list[str]) -> list[str]:
    """Every problem with a draft; [] when it can be stored. Pairs are written Y/X."""
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
    if not (isinstance(draft.cooldown_s, int | float) and 0 <= draft.cooldown_s <= 86_400):
        errors.append("cooldown must be between 0 and 86400 seconds")
    target = draft.target
    if draft.kind in PAIR_KINDS and target != "*" and target not in pairs:
        errors.append(f"target of a {draft.kind} rule must be '*' or a pair ({', '.join(pairs)})")
    elif draft.kind in SYMBOL_KINDS and target != "*" and target not in symbols:
        errors.append(f"target of a {draft.kind} rule must be '*' or a symbol ({', '.join(symbols)})")
    elif draft.kind == "custom" and target not in ("*", *pairs, *symbols):
        errors.append("target of a custom rule must be '*', a pair or a symbol")
    elif draft.kind == "run_failure" and target != "*":
        errors.append("a run_failure rule applies to every run: target must be '*'")
    if draft.kind in KIND_PARAM:
        key, lo, hi, meaning = KIND_PARAM[draft.kind]
        value = draft.params.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            errors.append(f"{key} is required: the {meaning}")
        elif not lo < value < hi:
            errors.append(f"{key} must be greater than {lo:g}" + (f" and less than {hi:g}" if math.isfinite(hi) else "")
                          + f" (the {meaning})")  # fmt: skip
    if draft.kind == "custom":
        errors.extend(expression_errors(draft.expression or ""))
    elif draft.expression:
        errors.append("only custom rules take an expression")
    return errors


def add_rule(conn: psycopg.Connection, draft: RuleDraft, symbols: list[str],
             pairs: list[str]) -> int:  # fmt: skip
    """Validate and insert a rule; returns its id. Raises RuleValidationError."""
    errors = validate_rule(draft, symbols, pairs)
    if errors:
        raise RuleValidationError(errors)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO alert_rules (name, kind, target, params, expression, severity,"
                " cooldown_s, enabled) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (draft.name.strip(), draft.kind, draft.target, Jsonb(draft.params),
                 (draft.expression or "").strip() or None, draft.severity, float(draft.cooldown_s),
                 draft.enabled),
            ).fetchone()  # fmt: skip
    except psycopg.errors.UniqueViolation:
        raise RuleValidationError([f"a rule named {draft.name.strip()!r} already exists"]) from None
    return int(row[0])


def list_rules(conn: psycopg.Connection) -> pd.DataFrame:
    """All rules, by name."""
    rows = conn.execute(
        "SELECT id, name, kind, target, params, expression, severity, cooldown_s, enabled,"
        " updated_at FROM alert_rules ORDER BY name"
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


def recent_alert_events(conn: psycopg.Connection, limit: int = 100,
                        since: datetime | None = None) -> pd.DataFrame:  # fmt: skip
    """The newest alert events first (daemon and Dagster alike)."""
    rows = conn.execute(
        "SELECT id, time, severity, rule_name, kind, target, message, source, metrics"
        " FROM alert_events WHERE (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)"
        " ORDER BY time DESC, id DESC LIMIT %(limit)s",
        {"since": since, "limit": int(limit)},
    ).fetchall()
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df
