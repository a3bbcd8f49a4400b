"""Alert rules: one validated, immutable description per rule, and its condition.

A rule is stored in `alert_rules`, edited from the CLI/YAML/dashboard, and
evaluated every 500 ms by the daemon, so everything that can be wrong with it
(unknown kind, bad threshold, bad expression) is found once, at construction,
with the offending field named.

Each condition reports a `Check`: `fire` (the condition holds) and `clear`
(it has left the threshold by the hysteresis margin, default 10 % of the
threshold). A fired rule re-arms only on `clear`, so a value hovering at the
threshold does not flap. Missing or NaN metrics give neither. A custom rule has
no numeric threshold to take a margin from: its optional `params.clear`
expression (e.g. `abs(z) < 1` for `abs(z) >= 2`) is what re-arms it.

Params per kind: zscore `k` (2.0), `direction` both|above|below; correlation_break
`floor` and/or `delta` (with fixed `baseline` or a learned EWMA, `baseline_alpha`);
volatility_spike `k` (2.0); all `hysteresis` (0.1). The dashboard editor's
generic keys (`threshold`, `ratio`) are read as their canonical names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from quant_platform.alerts.expression import (
    Expression,
    ExpressionError,
    compile_expression,
    metric_scope,
)
from quant_platform.config.settings import validate_symbol
from quant_platform.domain.alert import ENGINE_KINDS, RuleKind, Severity

# Kinds in the daemon's engine come first; the rest are fired by Dagster sensors,
# stored in the same table and ignored by the engine.
KINDS = tuple(k.value for k in RuleKind)
SEVERITIES = tuple(s.value for s in Severity)
DIRECTIONS = ("both", "above", "below")
# Spaces inside a name are allowed: the dashboard's editor accepts them.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.:\- ]{0,98}[A-Za-z0-9_.:\-])?$")
DEFAULT_HYSTERESIS = 0.1

_PARAMS: dict[str, set[str]] = {
    "zscore": {"k", "direction", "hysteresis"},
    "correlation_break": {"floor", "delta", "baseline", "baseline_alpha", "hysteresis"},
    "volatility_spike": {"k", "hysteresis"},
    "custom": {"clear"},
}
# Numeric params per kind: (low, high, low bound open?).
_HYSTERESIS = {"hysteresis": (0.0, 0.99, False)}
_NUMERIC_PARAMS: dict[str, dict[str, tuple[float, float, bool]]] = {
    "zscore": {**_HYSTERESIS, "k": (0.0, 1e6, True)},
    "volatility_spike": {**_HYSTERESIS, "k": (0.0, 1e6, True)},
    "correlation_break": {
        **_HYSTERESIS,
        "floor": (-1.0, 1.0, False),
        "delta": (0.0, 2.0, True),
        "baseline": (-1.0, 1.0, False),
        "baseline_alpha": (0.0, 1.0, True),
    },
}
_KIND_SCOPE = {"zscore": "pair", "correlation_break": "pair", "volatility_spike": "symbol"}
# The dashboard's editor writes one generic key per kind; read it as the canonical one.
PARAM_ALIASES: dict[str, dict[str, str]] = {
    "zscore": {"threshold": "k"},
    "correlation_break": {"threshold": "floor"},
    "volatility_spike": {"ratio": "k"},
}


class RuleError(ValueError):
    """An invalid rule; `field` names the offending field (e.g. `params.k`)."""

    def __init__(
        self,
        rule: str,
        field_name: str,
        message: str,
        expression_error: ExpressionError | None = None,
    ) -> None:
        super().__init__(f"rule {rule!r}: {field_name}: {message}")
        self.rule = rule
        self.field = field_name
        self.expression_error = expression_error


@dataclass(frozen=True)
class Check:
    """One evaluation: does the condition hold, has it cleared, and which values mattered."""

    fire: bool
    clear: bool
    value: float = math.nan
    threshold: float = math.nan
    message: str = ""


@dataclass(frozen=True)
class AlertRule:
    """A validated rule. `cooldown_s=None` means the engine's default (60 s).

    Firing: a rule fires once when its condition starts to hold, then stays quiet
    until the condition clears (hysteresis) and holds again; `cooldown_s` is the
    least time between two firings. `repeat_s` (optional) re-fires every that many
    seconds while the condition stays active, for alerts nobody should forget.
    """

    name: str
    kind: RuleKind
    target: str = "*"
    params: Mapping[str, Any] = field(default_factory=dict)
    expression: str | None = None
    severity: Severity = Severity.WARNING
    cooldown_s: float | None = None
    enabled: bool = True
    id: int | None = None
    repeat_s: float | None = None
    compiled: Expression | None = field(default=None, init=False, repr=False, compare=False)
    compiled_clear: Expression | None = field(default=None, init=False, repr=False, compare=False)
    scope: str = field(default="pair", init=False, compare=False)
    # params under canonical keys (dashboard aliases resolved), used by the checks
    effective: Mapping[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Validate every field once, naming the first bad one.

        Raises:
            RuleError: a field is invalid (`field` names it, e.g. `params.k`).
        """
        name = self.name if isinstance(self.name, str) else repr(self.name)
        self._validate_header(name)
        target = self._validate_target(name)
        object.__setattr__(self, "target", target)
        if self.kind in ENGINE_KINDS:
            self._validate_params(name)
        scope = _KIND_SCOPE.get(self.kind, "any")
        if self.kind is RuleKind.CUSTOM:
            scope = self._compile_custom(name)
        elif self.expression:
            raise RuleError(name, "expression", f"only custom rules take one, not {self.kind}")
        if target != "*" and scope in ("pair", "symbol") and ("/" in target) != (scope == "pair"):
            shape = "pair" if "/" in target else "symbol"
            raise RuleError(
                name, "target", f"{target} is a {shape} but this rule uses {scope} metrics"
            )
        if scope == "any":
            scope = "symbol" if target != "*" and "/" not in target else "pair"
        object.__setattr__(self, "scope", scope)

    def _validate_header(self, name: str) -> None:
        """Name, kind, severity, cooldown, repeat, enabled and the params' shape."""
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise RuleError(name, "name", "use 1-100 letters, digits, spaces, '_', '-', '.', ':'")
        if self.kind not in KINDS:
            raise RuleError(name, "kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        object.__setattr__(self, "kind", RuleKind(self.kind))
        if self.severity not in SEVERITIES:
            raise RuleError(
                name, "severity", f"{self.severity!r} is not one of {', '.join(SEVERITIES)}"
            )
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.cooldown_s is not None:
            object.__setattr__(self, "cooldown_s", _seconds(name, "cooldown_s", self.cooldown_s))
        if self.repeat_s is not None:
            repeat = _seconds(name, "repeat_s", self.repeat_s)
            if repeat <= 0:
                raise RuleError(name, "repeat_s", "must be > 0 seconds (leave it out to fire once)")
            object.__setattr__(self, "repeat_s", repeat)
        if not isinstance(self.enabled, bool):
            raise RuleError(name, "enabled", "must be true or false")
        if not isinstance(self.params, Mapping):
            raise RuleError(name, "params", "must be a mapping like {k: 2.5}")
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "effective", dict(self.params))

    def _compile_custom(self, name: str) -> str:
        """Compile a custom rule's condition and optional `params.clear`; returns its scope."""
        if not self.expression or not str(self.expression).strip():
            raise RuleError(name, "expression", "a custom rule needs an expression")
        expr, found = _compile(name, "expression", str(self.expression))
        scope = found or "any"
        object.__setattr__(self, "compiled", expr)
        clear = self.params.get("clear")
        if clear is not None:
            cexpr, clear_scope = _compile(name, "params.clear", str(clear))
            if scope != "any" and clear_scope not in (None, scope):
                raise RuleError(
                    name, "params.clear", f"the clear condition must use {scope} metrics too"
                )
            object.__setattr__(self, "compiled_clear", cexpr)
        return scope

    def _validate_target(self, name: str) -> str:
        t = self.target
        if not isinstance(t, str) or not t.strip():
            raise RuleError(
                name, "target", "use '*', a symbol (BTCUSDT) or a pair (BTCUSDT/ETHUSDT)"
            )
        t = t.strip()
        if t == "*":
            return t
        try:
            parts = [validate_symbol(p) for p in t.split("/")]
        except ValueError as exc:
            raise RuleError(name, "target", str(exc)) from None
        if len(parts) > 2 or (len(parts) == 2 and parts[0] == parts[1]):
            raise RuleError(name, "target", f"{t!r} is not a pair like BTCUSDT/ETHUSDT")
        return "/".join(parts)

    def _validate_params(self, name: str) -> None:
        """Known keys only (dashboard aliases resolved), each number inside its range."""
        eff, shown = self._resolve_aliases(name)
        allowed = _PARAMS[self.kind]
        unknown = set(eff) - allowed
        if unknown:
            also = sorted(allowed | set(PARAM_ALIASES.get(self.kind, {})))
            raise RuleError(
                name,
                f"params.{sorted(unknown)[0]}",
                f"unknown for {self.kind} (allowed: {', '.join(also) or 'none'})",
            )
        for key, (lo, hi, lo_open) in _NUMERIC_PARAMS.get(self.kind, {}).items():
            if key in eff:
                label = shown.get(key, key)
                eff[key] = _number_in(name, f"params.{label}", eff[key], lo, hi, lo_open)
                self.params[label] = eff[key]  # type: ignore[index]
        if self.kind is RuleKind.ZSCORE and eff.get("direction", "both") not in DIRECTIONS:
            d = eff["direction"]
            raise RuleError(
                name, "params.direction", f"{d!r} is not one of {', '.join(DIRECTIONS)}"
            )
        if self.kind is RuleKind.CORRELATION_BREAK and "floor" not in eff and "delta" not in eff:
            raise RuleError(name, "params", "correlation_break needs floor and/or delta")
        if self.kind is RuleKind.CUSTOM and not isinstance(eff.get("clear", ""), str):
            raise RuleError(name, "params.clear", "must be an expression, e.g. abs(z) < 1")
        object.__setattr__(self, "effective", eff)

    def _resolve_aliases(self, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Params under canonical keys, and canonical key -> the key the user wrote."""
        eff = dict(self.params)
        shown: dict[str, str] = {}
        for alias, canonical in PARAM_ALIASES.get(self.kind, {}).items():
            if alias in eff:
                if canonical in eff:
                    raise RuleError(
                        name, f"params.{alias}", f"same as params.{canonical}; give only one"
                    )
                eff[canonical] = eff.pop(alias)
                shown[canonical] = alias
        return eff, shown

    # --- conditions ---------------------------------------------------------

    @property
    def hysteresis(self) -> float:
        return float(self.effective.get("hysteresis", DEFAULT_HYSTERESIS))

    def check(self, metrics: Mapping[str, float], baseline: float | None = None) -> Check | None:
        """Evaluate on one target's metrics; None when the needed metrics are missing/NaN."""
        if self.kind == "zscore":
            return self._check_zscore(metrics)
        if self.kind == "correlation_break":
            return self._check_correlation(metrics, baseline)
        if self.kind == "volatility_spike":
            v = _get(metrics, "vol_ratio")
            if v is None:
                return None
            k = float(self.effective.get("k", 2.0))
            return Check(
                v >= k, v < k * (1 - self.hysteresis), v, k, f"volatility ratio {v:.2f} >= {k:g}"
            )
        if self.kind == "custom" and self.compiled is not None:
            r = self.compiled.evaluate_or_none(metrics)
            if r is None:
                return None
            if self.compiled_clear is None:
                clear = not r
            else:  # explicit re-arm condition: the custom rule's hysteresis
                clear = self.compiled_clear.evaluate_or_none(metrics) is True and not r
            return Check(r, clear, message=f"condition holds: {self.expression}")
        return None

    def _check_zscore(self, metrics: Mapping[str, float]) -> Check | None:
        z = _get(metrics, "zscore")
        if z is None:
            return None
        k = float(self.effective.get("k", 2.0))
        d = self.effective.get("direction", "both")
        clear_at = k * (1 - self.hysteresis)
        if d == "above":
            return Check(z >= k, z < clear_at, z, k, f"z-score {z:+.2f} >= {k:g}")
        if d == "below":
            return Check(z <= -k, z > -clear_at, z, -k, f"z-score {z:+.2f} <= {-k:g}")
        return Check(abs(z) >= k, abs(z) < clear_at, z, k, f"|z-score| {abs(z):.2f} >= {k:g}")

    def _check_correlation(
        self, metrics: Mapping[str, float], baseline: float | None
    ) -> Check | None:
        c = _get(metrics, "correlation")
        if c is None:
            return None
        h = self.hysteresis
        fire, clear, msgs = False, True, []
        threshold = math.nan
        floor = self.effective.get("floor")
        if floor is not None:
            threshold = floor
            margin = h * max(abs(floor), 0.01)
            if c < floor:
                fire = True
                msgs.append(f"correlation {c:.3f} < floor {floor:g}")
            clear = clear and c >= floor + margin
        delta = self.effective.get("delta")
        base = self.effective.get("baseline", baseline)
        if delta is not None and base is not None and math.isfinite(base):
            drop = base - c
            if drop >= delta:
                fire = True
                msgs.append(f"correlation {c:.3f} fell {drop:.3f} from baseline {base:.3f}")
            clear = clear and drop < delta * (1 - h)
        return Check(fire, clear and not fire, c, threshold, "; ".join(msgs))

    def relevant_metrics(self) -> tuple[str, ...]:
        """The metric names an event of this rule carries."""
        return {
            "zscore": ("zscore", "spread", "spread_mean", "spread_std", "hedge_ratio"),
            "correlation_break": ("correlation",),
            "volatility_spike": ("vol_ratio", "vol_short", "vol_long", "realized_vol"),
        }.get(self.kind, tuple(sorted(self.compiled.names)) if self.compiled else ())

    # --- conversion -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "target": self.target,
            "params": dict(self.params),
            "severity": self.severity.value,
            "enabled": self.enabled,
        }
        if self.expression:
            d["expression"] = self.expression
        if self.cooldown_s is not None:
            d["cooldown_s"] = self.cooldown_s
        if self.repeat_s is not None:
            d["repeat_s"] = self.repeat_s
        if self.id is not None:
            d["id"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertRule:
        """Build from YAML/JSON; unknown keys are an error naming the key."""
        name = str(d.get("name", "?"))
        allowed = {
            "name",
            "kind",
            "target",
            "params",
            "expression",
            "severity",
            "cooldown_s",
            "repeat_s",
            "enabled",
            "id",
        }
        extra = set(d) - allowed
        if extra:
            raise RuleError(
                name, sorted(extra)[0], f"unknown field (allowed: {', '.join(sorted(allowed))})"
            )
        if "name" not in d or "kind" not in d:
            raise RuleError(name, "name" if "name" not in d else "kind", "is required")
        return cls(
            name=d["name"],
            kind=d["kind"],
            target=d.get("target", "*") or "*",
            params=d.get("params") or {},
            expression=d.get("expression"),
            severity=d.get("severity", "warning"),
            cooldown_s=d.get("cooldown_s"),
            repeat_s=d.get("repeat_s"),
            enabled=d.get("enabled", True),
            id=d.get("id"),
        )


def _number_in(
    rule: str, label: str, v: object, lo: float, hi: float, lo_open: bool = False
) -> float:
    """`v` as a float inside [lo, hi] (or (lo, hi]), or a RuleError naming `label`."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise RuleError(rule, label, f"must be a number, got {v!r}")
    if v < lo or v > hi or (lo_open and v == lo):
        raise RuleError(rule, label, f"must be {'>' if lo_open else '>='} {lo:g} and <= {hi:g}")
    return float(v)


def _compile(rule: str, label: str, source: str) -> tuple[Expression, str | None]:
    """Compile a condition and find its metric scope (pair, symbol or None for either).

    Raises:
        RuleError: naming `label`, keeping the expression error's caret position.
    """
    try:
        expr = compile_expression(source)
        return expr, metric_scope(expr.names)
    except ExpressionError as exc:
        if not exc.source:
            exc.source = source
        raise RuleError(rule, label, str(exc), exc) from None


def _seconds(rule: str, field_name: str, value: object) -> float:
    """A finite, non-negative number of seconds, or a RuleError naming the field."""
    try:
        s = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RuleError(rule, field_name, "must be a number of seconds") from None
    if isinstance(value, bool) or not math.isfinite(s) or s < 0:
        raise RuleError(rule, field_name, "must be >= 0 seconds")
    return s


def _get(metrics: Mapping[str, float], key: str) -> float | None:
    v = metrics.get(key)
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def load_rules_yaml(path: str | Path) -> list[AlertRule]:
    """Rules from YAML: a list of rules, or a mapping with a `rules:` list (and maybe `sinks:`).

    Raises:
        ValueError: the file's shape is wrong (not a list of mappings).
        RuleError: a rule is invalid or a name repeats (the field is named).
    """
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if data is None:
        return []
    items = data.get("rules", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: `rules` must be a list of rules")
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: rule #{i + 1} must be a mapping")
        rule = AlertRule.from_dict(item)
        if rule.name in seen:
            raise RuleError(rule.name, "name", f"duplicate in {path}")
        seen.add(rule.name)
        rules.append(rule)
    return rules
