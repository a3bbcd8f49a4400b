"""Past scheduled reports on disk, and the one function that runs a report end to end.

Each run writes ``<reports_dir>/scheduled/<name>/<YYYYmmddTHHMM>.html`` and a
``.json`` beside it (first line, span, deliveries), which the dashboard lists.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from quant_platform.domain.alert import DeliveryResult
from quant_platform.reporting.build import Report, build_report
from quant_platform.reporting.definitions import ReportDefinition
from quant_platform.reporting.delivery import deliver_report


@dataclass(frozen=True)
class ReportRun:
    report: Report
    path: Path
    link: str
    deliveries: list[DeliveryResult]


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_report(
    database_url: str,
    reports_dir: Path,
    definition: ReportDefinition,
    end: datetime | None = None,
    deliver: bool = True,
) -> ReportRun:
    """Build, archive and deliver one report.

    Raises:
        psycopg.OperationalError: the database is unreachable.
    """
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        report = build_report(conn, definition, end)
    folder = Path(reports_dir) / "scheduled" / definition.name
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{report.end:%Y%m%dT%H%M}"
    path = folder / f"{stamp}.html"
    text = report.html()
    _atomic(path, text)
    link = f"{definition.link_base}/reports?report={definition.name}&at={stamp}"
    results = deliver_report(report, text, link, definition.recipients) if deliver else []
    meta = {
        "name": definition.name,
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "has_data": report.has_data,
        "first_line": report.first_line,
        "html": path.name,
        "deliveries": [
            {"sink": r.sink, "ok": r.ok, "attempts": r.attempts, "error": r.error} for r in results
        ],
    }
    _atomic(path.with_suffix(".json"), json.dumps(meta, indent=2))
    return ReportRun(report, path, link, results)


def list_reports(reports_dir: Path) -> list[dict[str, object]]:
    """Every archived report, newest first (from the .json sidecars)."""
    root = Path(reports_dir) / "scheduled"
    rows: list[dict[str, object]] = []
    for meta in root.glob("*/*.json"):
        try:
            d = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        d["path"] = str(meta.with_suffix(".html"))
        rows.append(d)
    rows.sort(key=lambda d: str(d.get("end", "")), reverse=True)
    return rows
