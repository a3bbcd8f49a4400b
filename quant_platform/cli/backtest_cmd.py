"""`qp backtest --pair Y/X --from ... --to ...`: one pair backtest on stored bars and funding.

Prints a summary (metrics and the cost breakdown), or with ``--json`` one JSON
object; ``--trades-csv``/``--equity-csv`` write the trades and the equity curve;
``--sweep-entry``/``--sweep-exit`` add an entry x exit grid of Sharpe and net P&L.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from quant_platform.config import Settings


def _when(text: str, flag: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{flag}: {text!r} is not a date/time; use e.g. 2026-11-01 or 2026-11-01T08:00"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _floats(text: str | None, flag: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a comma-separated list of numbers") from None


def _params(args: argparse.Namespace):  # noqa: ANN202 - BacktestParams, imported lazily
    from quant_platform.analytics.backtest import BacktestParams

    return BacktestParams(
        entry=args.entry,
        exit=args.exit,
        stop=args.stop,
        max_hold_bars=args.max_hold,
        lookback=args.lookback,
        hedge=args.hedge,
        neutrality=args.neutrality,
        notional=args.notional,
        taker_fee_bps=args.taker_fee_bps,
        maker_fee_bps=args.maker_fee_bps,
        liquidity=args.liquidity,
        slippage="sqrt" if args.impact_bps is not None else "bps",
        slippage_bps=args.slippage_bps,
        impact_bps=args.impact_bps if args.impact_bps is not None else 10.0,
    ).validate()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:,.4f}"
    return str(v)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.analytics.backtest import BacktestError, backtest
    from quant_platform.queries.backtest import NoBarsError, load_pair_bars, parse_pair, summary

    try:
        pair = parse_pair(args.pair)
        end = _when(args.to, "--to") if args.to else datetime.now(UTC)
        start = _when(args.from_, "--from") if args.from_ else end - timedelta(days=7)
        params = _params(args)
        entries = _floats(args.sweep_entry, "--sweep-entry")
        exits = _floats(args.sweep_exit, "--sweep-exit")
    except (ValueError, BacktestError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            bars = load_pair_bars(conn, pair, args.timeframe, start, end)
    except NoBarsError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"backtest: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    try:
        result = backtest(bars, params)
        grid, folds = _grid_and_folds(args, bars, params, entries, exits)
    except BacktestError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    out = summary(result, pair)
    if folds:
        out["walk_forward"] = [_fold_dict(f) for f in folds]
    return _report(args, pair.name, len(bars.y), result, out, grid)


def _grid_and_folds(
    args: argparse.Namespace, bars: Any, params: Any, entries: Any, exits: Any
) -> tuple[Any, list]:
    """The entry x exit sweep (with --sweep-exit) and walk-forward folds (--walk-forward N)."""
    from quant_platform.analytics.backtest import sweep, walk_forward

    entries = entries or [params.entry]
    grid = sweep(bars, params, entries, exits) if exits else None
    folds = []
    if args.walk_forward:
        folds = walk_forward(bars, params, entries, exits or [params.exit], args.walk_forward)
    return grid, folds


def _fold_dict(f: Any) -> dict[str, object]:
    def clean(v: float) -> float | None:
        return v if math.isfinite(v) else None

    return {
        "in_sample_from": datetime.fromtimestamp(f.is_start_ms / 1000, UTC).isoformat(),
        "in_sample_to": datetime.fromtimestamp(f.is_end_ms / 1000, UTC).isoformat(),
        "out_of_sample_to": datetime.fromtimestamp(f.oos_end_ms / 1000, UTC).isoformat(),
        "entry": f.entry,
        "exit": f.exit,
        "sharpe_in_sample": clean(f.is_sharpe),
        "sharpe_out_of_sample": clean(f.oos_sharpe),
        "net_pnl_in_sample": f.is_net_pnl,
        "net_pnl_out_of_sample": f.oos_net_pnl,
        "trades_out_of_sample": f.oos_trades,
    }


def _report(
    args: argparse.Namespace, name: str, n_bars: int, result: Any, out: dict, grid: Any
) -> int:
    """Write the CSVs asked for, then print the summary as JSON or text."""
    if grid is not None:
        out["sweep"] = {
            "entries": grid.entries.tolist(),
            "exits": grid.exits.tolist(),
            "sharpe": [[None if math.isnan(v) else v for v in row] for row in grid.sharpe[0]],
            "net_pnl": [[None if math.isnan(v) else v for v in row] for row in grid.net_pnl[0]],
        }
    if args.trades_csv:
        result.trades_frame().to_csv(args.trades_csv, index=False)
    if args.equity_csv:
        result.equity_frame().to_csv(args.equity_csv, index=False)
    if args.json:
        print(json.dumps(out, separators=(",", ":")))
        return 0
    print(f"{name} {args.timeframe}  {out.get('from')} .. {out.get('to')}  ({n_bars} bars)")
    for key in (
        "n_trades",
        "net_pnl",
        "gross_pnl",
        "total_return",
        "annualised_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "hit_rate",
        "turnover",
    ):
        print(f"  {key:<18} {_fmt(getattr(result.metrics, key))}")
    m = result.metrics
    costs = f"fees {m.fees:,.2f}  slippage {m.slippage:,.2f}  funding {m.funding:,.2f}"
    print(f"  {'costs':<18} {costs}")
    for f in out.get("walk_forward", []):
        print(
            f"  walk-forward to {f['out_of_sample_to'][:16]}: entry {f['entry']:g} exit "
            f"{f['exit']:g}  Sharpe in-sample {_fmt(f['sharpe_in_sample'])} "
            f"out-of-sample {_fmt(f['sharpe_out_of_sample'])}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="backtest a pair on stored bars and funding",
        description="Backtest a pair (z-score entry/exit on a causal hedge) with fees, "
        "slippage and funding. Times are UTC.",
    )
    p.add_argument(
        "--pair", required=True, help="Y/X, e.g. ETHUSDT/BTCUSDT (Y sized by --notional)"
    )
    p.add_argument("--from", dest="from_", help="start (default: --to minus 7 days)")
    p.add_argument("--to", help="end, exclusive (default: now)")
    p.add_argument("--timeframe", default="1m", help="bar interval in ohlcv (default 1m)")
    p.add_argument("--entry", type=float, default=2.0, help="enter at |z| crossing this (2)")
    p.add_argument("--exit", type=float, default=0.5, help="exit at |z| back inside this (0.5)")
    p.add_argument("--stop", type=float, default=None, help="stop at |z| beyond this")
    p.add_argument("--max-hold", type=int, default=None, help="close after this many bars")
    p.add_argument("--lookback", type=int, default=120, help="bars for hedge and z-score (120)")
    p.add_argument("--hedge", choices=["rolling", "expanding", "kalman"], default="rolling")
    p.add_argument("--neutrality", choices=["dollar", "beta"], default="dollar")
    p.add_argument("--notional", type=float, default=10_000.0, help="USDT on the Y leg")
    p.add_argument("--taker-fee-bps", type=float, default=5.0)
    p.add_argument("--maker-fee-bps", type=float, default=2.0)
    p.add_argument("--liquidity", choices=["taker", "maker"], default="taker")
    p.add_argument("--slippage-bps", type=float, default=1.0, help="fixed slippage per fill")
    p.add_argument(
        "--impact-bps",
        type=float,
        default=None,
        help="square-root impact instead: impact_bps * sqrt(qty / bar volume)",
    )
    p.add_argument("--sweep-entry", help="comma list of entries for a sweep (with --sweep-exit)")
    p.add_argument("--sweep-exit", help="comma list of exits: adds an entry x exit grid")
    p.add_argument(
        "--walk-forward",
        type=int,
        default=0,
        metavar="N",
        help="N windows: choose entry/exit (the sweep grid) on one, score on the next",
    )
    p.add_argument("--trades-csv", help="write the trades to this CSV file")
    p.add_argument("--equity-csv", help="write the equity curve to this CSV file")
    p.add_argument("--json", action="store_true", help="one JSON object: metrics and costs")
    p.set_defaults(func=_run)
