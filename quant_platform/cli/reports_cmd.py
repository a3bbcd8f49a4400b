"""`qp reports list|run NAME`: the scheduled report definitions, and one run on demand."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import psycopg

from quant_platform.config import Settings


def _defs(settings: Settings):  # noqa: ANN202 - list[ReportDefinition], imported lazily
    from quant_platform.reporting.definitions import load_definitions

    return load_definitions(settings.reports_file)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.reporting.archive import list_reports
    from quant_platform.reporting.definitions import ReportDefinitionError

    try:
        defs = _defs(settings)
    except ReportDefinitionError as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2
    if not defs:
        print("no reports defined (set QP_REPORTS_FILE to a YAML file with `reports:`)")
    past = list_reports(settings.reports_dir)
    for d in defs:
        pairs = ", ".join(f"{y}/{x}" for y, x in d.pairs) if d.pairs else f"top {d.top}"
        last = next((r for r in past if r.get("name") == d.name), None)
        when = last["end"] if last else "never"
        print(
            f"{d.name:<24} cron '{d.cron}'  {pairs}  {d.timeframe} over {d.raw_lookback}  "
            f"sections {','.join(d.sections)}  recipients {len(d.recipients)}  last run {when}"
        )
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.reporting.archive import run_report
    from quant_platform.reporting.definitions import ReportDefinitionError

    try:
        defs = {d.name: d for d in _defs(settings)}
    except ReportDefinitionError as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2
    d = defs.get(args.name)
    if d is None:
        known = ", ".join(sorted(defs)) or "none (set QP_REPORTS_FILE)"
        print(f"reports: no report named {args.name!r}; defined: {known}", file=sys.stderr)
        return 2
    end = None
    if args.end:
        try:
            end = datetime.fromisoformat(args.end)
        except ValueError:
            print(f"reports: --end {args.end!r} is not a date/time", file=sys.stderr)
            return 2
        end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    try:
        run = run_report(
            settings.database_url, settings.reports_dir, d, end, deliver=not args.no_deliver
        )
    except psycopg.OperationalError as exc:
        print(f"reports: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    print(run.report.first_line)
    print(f"written {run.path}")
    failed = [r for r in run.deliveries if not r.ok]
    for r in run.deliveries:
        print(f"delivered via {r.sink}: {'ok' if r.ok else 'FAILED ' + str(r.error)}")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reports", help="scheduled reports: list definitions, run one now")
    rsub = p.add_subparsers(dest="reports_command", required=True)
    ls = rsub.add_parser("list", help="the definitions in QP_REPORTS_FILE and their last run")
    ls.set_defaults(func=_list)
    run = rsub.add_parser("run", help="build, archive and deliver one report now")
    run.add_argument("name")
    run.add_argument("--end", help="span end (UTC; default now)")
    run.add_argument("--no-deliver", action="store_true", help="write the file only")
    run.set_defaults(func=_run)
