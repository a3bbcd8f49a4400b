"""`qp alerts list|add|enable|disable|delete|load|events`: alert rules and recent events.

Rules are validated here exactly as the engine will see them, so a bad
expression is refused at the prompt (exit 2, caret under the column) instead
of being skipped by the daemon later.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import psycopg
import yaml

from quant_platform.config import Settings

EXIT_INVALID = 2


def _store(settings: Settings) -> Any:
    from quant_platform.alerts.store import AlertStore

    return AlertStore(settings.database_url, default_cooldown_s=settings.alert_cooldown_s)


def _db_error(exc: Exception) -> int:
    print(f"alerts: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
    return 1


def _print_rule_error(exc: Exception) -> int:
    from quant_platform.alerts.expression import ExpressionError
    from quant_platform.alerts.rules import RuleError

    expr_err = exc if isinstance(exc, ExpressionError) else None
    if isinstance(exc, RuleError):
        expr_err = exc.expression_error
    if expr_err is not None:
        print(f"alerts: invalid expression: {expr_err.message}", file=sys.stderr)
        for line in expr_err.caret().splitlines():
            print(f"  {line}", file=sys.stderr)
    else:
        print(f"alerts: {exc}", file=sys.stderr)
    return EXIT_INVALID


def _parse_params(items: list[str]) -> dict[str, Any]:
    """`k=2.5 direction=above` -> {"k": 2.5, "direction": "above"} (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {item!r}: write key=value, e.g. k=2.5")
        try:
            out[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            out[key.strip()] = value  # plain text, e.g. an expression for `clear`
    return out


def _row(*cells: str) -> str:
    """One line of `qp alerts list`: fixed-width columns so the header lines up."""
    on, name, kind, target, severity, cooldown, repeat, cond = cells
    return (
        f"{on:<3} {name:<24} {kind:<18} {target:<18} {severity:<8} {cooldown:<9} {repeat:<7} {cond}"
    )


def _list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rules = _store(settings).list_rules()
    except psycopg.OperationalError as exc:
        return _db_error(exc)
    if args.json:
        print(json.dumps([r.to_dict() for r in rules], indent=2))
        return 0
    if not rules:
        print("no alert rules (add one with `qp alerts add` or `qp alerts load FILE`)")
        return 0
    print(_row("on", "name", "kind", "target", "severity", "cooldown", "repeat", "condition"))
    for r in rules:
        cond = r.expression if r.kind == "custom" else json.dumps(dict(r.params), sort_keys=True)
        cd = "default" if r.cooldown_s is None else f"{r.cooldown_s:g}s"
        rep = "once" if r.repeat_s is None else f"{r.repeat_s:g}s"
        on = "yes" if r.enabled else "no"
        print(_row(on, r.name, r.kind, r.target, r.severity, cd, rep, cond))
    return 0


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.alerts.rules import AlertRule, RuleError
    from quant_platform.alerts.store import RuleExists

    name = args.name_opt or args.name
    if not name or (args.name_opt and args.name and args.name_opt != args.name):
        print("alerts: give the rule's name once, as NAME or --name NAME", file=sys.stderr)
        return EXIT_INVALID
    try:
        rule = AlertRule(
            name=name,
            kind=args.kind,
            target=args.target,
            params=_parse_params(args.param or []),
            expression=args.expression,
            severity=args.severity,
            cooldown_s=args.cooldown,
            repeat_s=args.repeat,
            enabled=not args.disabled,
        )
    except (RuleError, ValueError) as exc:
        return _print_rule_error(exc)
    store = _store(settings)
    try:
        saved = store.upsert_rule(rule) if args.replace else store.create_rule(rule)
    except RuleExists as exc:
        print(f"alerts: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        return _db_error(exc)
    print(f"saved rule {saved.name} (id {saved.id})")
    return 0


def _set_enabled(enabled: bool) -> Any:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        try:
            found = _store(settings).set_enabled(args.name, enabled)
        except psycopg.OperationalError as exc:
            return _db_error(exc)
        if not found:
            print(f"alerts: no rule named {args.name!r}", file=sys.stderr)
            return 1
        print(f"{'enabled' if enabled else 'disabled'} {args.name}")
        return 0

    return handler


def _delete(args: argparse.Namespace, settings: Settings) -> int:
    try:
        found = _store(settings).delete_rule(args.name)
    except psycopg.OperationalError as exc:
        return _db_error(exc)
    if not found:
        print(f"alerts: no rule named {args.name!r}", file=sys.stderr)
        return 1
    print(f"deleted {args.name}")
    return 0


def _load(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.alerts.rules import RuleError

    path = args.path or settings.alert_rules_file
    if path is None:
        print("alerts: give a YAML file or set QP_ALERT_RULES_FILE", file=sys.stderr)
        return EXIT_INVALID
    try:
        rules = _store(settings).load_yaml(path)
    except (RuleError, ValueError, yaml.YAMLError) as exc:
        return _print_rule_error(exc)
    except OSError as exc:
        print(f"alerts: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        return _db_error(exc)
    print(f"loaded {len(rules)} rule(s) from {path}: {', '.join(r.name for r in rules)}")
    return 0


def _events(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rows = _store(settings).recent(args.limit)
    except psycopg.OperationalError as exc:
        return _db_error(exc)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in reversed(rows):
        ok = sum(1 for d in r["deliveries"] if d.get("ok"))
        print(
            f"{r['time'].isoformat(timespec='seconds')} #{r['id']:<6} {r['severity']:<8} "
            f"{r['rule_name']:<24} {r['target']:<18} {r['message']}  "
            f"[{r['source']}, delivered {ok}/{len(r['deliveries'])}]"
        )
    if not rows:
        print("no alert events yet")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from quant_platform.alerts.rules import KINDS, SEVERITIES

    p = sub.add_parser("alerts", help="alert rules and events")
    asub = p.add_subparsers(dest="action", required=True)

    ls = asub.add_parser("list", help="list rules")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    add = asub.add_parser(
        "add",
        help="add a rule",
        description="e.g. qp alerts add --name z-wide --kind zscore --param k=2.5; "
        "qp alerts add --name tight --kind custom --expr 'abs(z) > 2.5 and adf_p < 0.05'",
    )
    add.add_argument("name", nargs="?", help="rule name (or --name)")
    add.add_argument("--name", dest="name_opt", metavar="NAME", help="rule name")
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--target", default="*", help="'*', SYMBOL or SYMBOL/SYMBOL (default *)")
    add.add_argument(
        "--param",
        "-p",
        action="append",
        metavar="KEY=VALUE",
        help="rule parameter, repeatable (k=2.5, direction=above, floor=0.5, ...)",
    )
    add.add_argument(
        "--expr",
        "--expression",
        "-e",
        dest="expression",
        help="condition of a custom rule, e.g. 'abs(z) > 2.5 and adf_p < 0.05'",
    )
    add.add_argument("--severity", default="warning", choices=SEVERITIES)
    add.add_argument("--cooldown", type=float, help="seconds between alerts per target")
    add.add_argument(
        "--repeat",
        type=float,
        metavar="SECONDS",
        help="fire again every SECONDS while the condition stays active (default: fire once, "
        "re-arm only after it clears)",
    )
    add.add_argument("--disabled", action="store_true", help="save it disabled")
    add.add_argument("--replace", action="store_true", help="overwrite a rule of that name")
    add.set_defaults(func=_add)

    for action, enabled in (("enable", True), ("disable", False)):
        ep = asub.add_parser(action, help=f"{action} a rule")
        ep.add_argument("name")
        ep.set_defaults(func=_set_enabled(enabled))

    dp = asub.add_parser("delete", help="delete a rule")
    dp.add_argument("name")
    dp.set_defaults(func=_delete)

    lp = asub.add_parser("load", help="create/update rules from YAML (all or nothing)")
    lp.add_argument("path", nargs="?", help="default QP_ALERT_RULES_FILE")
    lp.set_defaults(func=_load)

    ev = asub.add_parser("events", help="recent alert events, newest last")
    ev.add_argument("--limit", "-n", type=int, default=20)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_events)
