"""Report definitions from YAML: what to report, over which pairs and span, when, to whom.

Example (``QP_REPORTS_FILE``)::

    reports:
      - name: eth-btc-morning
        pairs: [ETHUSDT/BTCUSDT]          # or: top: 5  (best q-values of the newest screen)
        timeframe: 1m
        lookback: 1d
        sections: [statistics, backtest, alerts, data_quality]
        cron: "0 7 * * *"                 # UTC
        recipients:                       # alert sink specs (see alerts/sinks.py)
          - {type: email, host: 127.0.0.1, port: 25, sender: qp@localhost, to: [me@localhost]}
          - {type: webhook, url: "https://hooks.slack.com/...", style: slack}
        link_base: http://127.0.0.1:8501  # where the webhook's link points (dashboard)

Every key is checked when the file is read; an error names the report and the
key and says what is expected, so a typo fails `qp reports list` and the
Dagster code location at load, not at 07:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from dagster._utils.schedules import is_valid_cron_string

from quant_platform.config.settings import validate_pair
from quant_platform.queries.research import interval_seconds, parse_duration

SECTIONS = ("statistics", "backtest", "alerts", "data_quality")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KEYS = {
    "name",
    "pairs",
    "top",
    "timeframe",
    "lookback",
    "sections",
    "cron",
    "recipients",
    "link_base",
}


class ReportDefinitionError(ValueError):
    """A report definition that cannot run; the message names the report and key."""


@dataclass(frozen=True)
class ReportDefinition:
    name: str
    cron: str
    pairs: tuple[tuple[str, str], ...] = ()
    top: int | None = None
    timeframe: str = "1m"
    lookback: timedelta = timedelta(days=1)
    sections: tuple[str, ...] = SECTIONS
    recipients: tuple[dict[str, Any], ...] = ()
    link_base: str = "http://127.0.0.1:8501"
    raw_lookback: str = "1d"
    extra: dict[str, Any] = field(default_factory=dict)


def _name(i: int, d: Any) -> str:
    if not isinstance(d, dict):
        raise ReportDefinitionError(f"reports[{i}]: expected a mapping with name, cron, ...")
    name = d.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ReportDefinitionError(
            f"reports[{i}].name: {name!r} must be lowercase letters, digits, '-' or '_' (<= 63)"
        )
    unknown = set(d) - _KEYS
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ReportDefinitionError(
            f"report {name!r}: unknown key(s) {', '.join(sorted(unknown))}; known: {known}"
        )
    return name


def _pairs(where: str, d: dict[str, Any]) -> tuple[list[tuple[str, str]], int | None]:
    pairs_raw, top = d.get("pairs"), d.get("top")
    if (pairs_raw is None) == (top is None):
        raise ReportDefinitionError(f"{where}: give exactly one of `pairs: [Y/X, ...]` or `top: N`")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 50:
            raise ReportDefinitionError(f"{where}.top: {top!r} must be an int in 1..50")
        return [], top
    if not isinstance(pairs_raw, list) or not pairs_raw:
        raise ReportDefinitionError(f"{where}.pairs: a non-empty list like [ETHUSDT/BTCUSDT]")
    pairs: list[tuple[str, str]] = []
    for p in pairs_raw:
        try:
            pairs.append(validate_pair(str(p)))
        except ValueError as exc:
            raise ReportDefinitionError(f"{where}.pairs: {p!r} is not a pair Y/X ({exc})") from None
    return pairs, None


def _recipients(where: str, d: dict[str, Any]) -> list[dict[str, Any]]:
    recipients = d.get("recipients", [])
    if not isinstance(recipients, list) or any(not isinstance(r, dict) for r in recipients):
        raise ReportDefinitionError(
            f"{where}.recipients: a list of sink specs ({{type: email, ...}})"
        )
    from quant_platform.alerts.sinks import build_sinks

    try:
        build_sinks([{k: v for k, v in r.items() if k != "deliver_from"} for r in recipients])
    except ValueError as exc:
        raise ReportDefinitionError(f"{where}.recipients: {exc}") from None
    return recipients


def _parse_one(i: int, d: Any) -> ReportDefinition:
    name = _name(i, d)
    where = f"report {name!r}"
    cron = d.get("cron")
    if not isinstance(cron, str) or not is_valid_cron_string(cron):
        raise ReportDefinitionError(f"{where}.cron: {cron!r} is not a cron string like '0 7 * * *'")
    pairs, top = _pairs(where, d)
    timeframe = str(d.get("timeframe", "1m"))
    lookback = str(d.get("lookback", "1d"))
    try:
        interval_seconds(timeframe)
        span = parse_duration(lookback, "lookback")
    except ValueError as exc:
        raise ReportDefinitionError(f"{where}: {exc}") from None
    sections = d.get("sections", list(SECTIONS))
    if not isinstance(sections, list) or not sections or any(s not in SECTIONS for s in sections):
        raise ReportDefinitionError(
            f"{where}.sections: {sections!r}; use a list of {', '.join(SECTIONS)}"
        )
    return ReportDefinition(
        name=name,
        cron=cron,
        pairs=tuple(pairs),
        top=top,
        timeframe=timeframe,
        lookback=span,
        sections=tuple(sections),
        recipients=tuple(_recipients(where, d)),
        link_base=str(d.get("link_base", "http://127.0.0.1:8501")).rstrip("/"),
        raw_lookback=lookback,
    )


def parse_definitions(data: Any, source: str = "reports file") -> list[ReportDefinition]:
    """Definitions from parsed YAML (`{reports: [...]}`).

    Raises:
        ReportDefinitionError: a bad definition or duplicate name, naming it.
    """
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("reports", []), list):
        raise ReportDefinitionError(f"{source}: expected `reports:` with a list of definitions")
    out = [_parse_one(i, d) for i, d in enumerate(data.get("reports", []))]
    names = [r.name for r in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ReportDefinitionError(f"{source}: duplicate report name(s) {', '.join(sorted(dup))}")
    return out


def load_definitions(path: str | Path | None) -> list[ReportDefinition]:
    """Definitions in `path` ([] when unset).

    Raises:
        ReportDefinitionError: missing file, bad YAML or a bad definition.
    """
    if path is None:
        return []
    p = Path(path)
    if not p.exists():
        raise ReportDefinitionError(f"QP_REPORTS_FILE: {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReportDefinitionError(f"{p}: not valid YAML ({exc})") from None
    return parse_definitions(data, str(p))
