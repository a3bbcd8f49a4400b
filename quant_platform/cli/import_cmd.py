"""`qp import PATH...`: Binance public-data files into `trades` / `ohlcv`, idempotently.

The progress bar is tqdm (already installed with Dagster; counts rows as they
are parsed, across all files). `--backfill` then asks the Dagster webserver to
backfill `ohlcv` and `pair_statistics` over exactly the imported span.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import psycopg

from quant_platform.config import Settings
from quant_platform.feed.public_files import known_kinds
from quant_platform.storage import funding_store  # noqa: F401 - registers fundingRate files
from quant_platform.storage.history_import import ImportSummary, import_file


def _fmt_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; a directory stands for its .csv and .zip files, sorted by name."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in (".csv", ".zip")))
        else:
            out.append(p)
    return out


def print_summary(summary: ImportSummary, out: TextIO | None = None) -> None:
    """Rows read, stored, already present, rejected by reason, span per symbol; bad lines."""
    out = out or sys.stdout
    for f in summary.files:
        name = Path(f.report.path).name
        if f.error:
            print(f"ERROR {name}: {f.error}", file=out)
            continue
        for rl in f.report.rejected_lines:
            detail = f" ({rl.detail})" if rl.detail else ""
            print(f"rejected {name}:{rl.line}: {rl.reason}{detail}: {rl.text}", file=out)
        hidden = sum(f.report.rejected.values()) - len(f.report.rejected_lines)
        if hidden > 0:
            print(f"rejected {name}: {hidden} more line(s) not listed", file=out)
    dup = sum(f.duplicates for f in summary.files if f.ident is not None)
    print(
        f"files {len(summary.files)}  rows read {summary.rows_read}  stored {summary.stored}  "
        f"already stored {dup}",
        file=out,
    )
    rejected = summary.rejected()
    if rejected:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
        print(f"rejected {sum(rejected.values())}: {reasons}", file=out)
    else:
        print("rejected 0", file=out)
    for (symbol, table), (lo, hi) in sorted(summary.spans().items()):
        print(f"  {symbol:<12} {table:<7} {_fmt_ms(lo)} .. {_fmt_ms(hi)} UTC", file=out)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    paths = expand_paths(args.paths)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"import: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    summary = ImportSummary()
    try:
        conn = psycopg.connect(settings.database_url, autocommit=True, application_name="qp-import")
    except psycopg.OperationalError as exc:
        print(f"import: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    bar = tqdm(
        unit=" rows",
        unit_scale=True,
        disable=args.no_progress or None,  # None: on for a terminal, off when piped
        file=sys.stderr,
    )
    with conn, bar:
        for p in paths:
            bar.set_description(p.name)
            summary.files.append(import_file(conn, p, args.symbol, args.kind, bar.update))
    print_summary(summary)
    code = 1 if any(f.error for f in summary.files) else 0
    if args.backfill:
        from quant_platform.orchestration.backfill_client import BackfillError, launch_backfill

        spans = summary.spans()
        if not spans:
            print("backfill: nothing imported, nothing to backfill", file=sys.stderr)
            return code or 1
        lo = min(s[0] for s in spans.values())
        hi = max(s[1] for s in spans.values())
        url = args.dagster_url or f"http://127.0.0.1:{settings.dagster_port}"
        try:
            launched = launch_backfill(url, lo, hi)
        except BackfillError as exc:
            print(f"backfill: {exc}", file=sys.stderr)
            return 1
        print(
            f"backfill {launched.backfill_id}: ohlcv {launched.first_partition} .. "
            f"{launched.last_partition} ({launched.partitions} partitions) + pair_statistics"
        )
        print(f"  {launched.link}")
    return code


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="load Binance public-data files (trades, aggTrades, klines; .csv or .zip)",
        description=(
            "Load Binance public-data futures files into the database. Symbol and kind "
            "come from the file name (BTCUSDT-trades-2026-11-01.zip, BTCUSDT-1m-...zip) "
            "or --symbol/--kind. Re-importing a file stores nothing new."
        ),
    )
    p.add_argument("paths", nargs="+", help="files, or directories of .csv/.zip files")
    p.add_argument("--symbol", help="symbol for every file (default: from the file name)")
    p.add_argument(
        "--kind", help=f"file kind for every file: {', '.join(known_kinds())} (or 1m, 5m, ...)"
    )
    p.add_argument(
        "--backfill",
        action="store_true",
        help="then launch the Dagster backfill of ohlcv + pair_statistics over the imported span",
    )
    p.add_argument(
        "--dagster-url", help="Dagster webserver (default http://127.0.0.1:QP_DAGSTER_PORT)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
