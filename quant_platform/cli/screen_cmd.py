"""`qp screen`: every pair of a universe, ranked by Benjamini-Hochberg q-value.

`qp promote Y/X` adds a pair to the live pair set the daemon re-reads each cycle.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from quant_platform.config import Settings


def _json_value(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.analytics.screener import ScreenConfig, screen_pairs
    from quant_platform.queries.research import (
        interval_seconds,
        load_bar_window,
        parse_duration,
        save_screen,
    )

    try:
        lookback = parse_duration(args.lookback)
        step = interval_seconds(args.timeframe)
    except ValueError as exc:
        print(f"screen: {exc}", file=sys.stderr)
        return 2
    symbols = None
    if args.symbols:
        symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    elif not args.all_symbols:
        symbols = list(settings.symbols)
    cfg = ScreenConfig(
        min_obs=args.min_obs, min_quote_volume=args.min_quote_volume, bar_seconds=float(step)
    )
    t0 = time.perf_counter()
    try:
        with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
            window = load_bar_window(conn, symbols, args.timeframe, lookback)
            result = screen_pairs(window.log_prices, window.quote_volume, cfg)
            screen_id = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}"
            if not args.no_save:
                save_screen(conn, screen_id, window, result)
    except psycopg.OperationalError as exc:
        print(f"screen: cannot reach QP_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    return _report(args, result, window, screen_id, time.perf_counter() - t0)


def _report(
    args: argparse.Namespace, result: Any, window: Any, screen_id: str, elapsed: float
) -> int:
    """Print the ranked pairs as JSON lines or a table."""
    if args.json:
        for p in result.pairs:
            print(json.dumps({k: _json_value(v) for k, v in p.as_dict().items()}))
        return 0
    n_sym = window.log_prices.shape[1]
    print(
        f"screen {screen_id}: {n_sym} symbols, {len(result.pairs)} pairs, "
        f"{args.timeframe} bars {window.start:%Y-%m-%d %H:%M} .. {window.end:%Y-%m-%d %H:%M} UTC "
        f"in {elapsed:.1f} s" + ("" if not args.no_save else " (not saved)")
    )
    for sym, why in result.excluded.items():
        print(f"  excluded {sym}: {why}")
    for pair, why in result.failed.items():
        print(f"  failed {pair}: {why}")
    if not result.pairs:
        print("no pairs to rank (need bars for at least two symbols: qp import, or the feed)")
        return 0
    head = (
        f"{'rank':>4} {'pair':<22} {'q':>8} {'p':>8} {'beta':>8} {'beta_cv':>7} "
        f"{'half-life':>10} {'hurst':>6} {'corr':>6} {'liquidity':>11}"
    )
    print(head)
    for p in result.pairs[: args.top]:
        hl = f"{p.half_life_s / 60:.1f} min" if math.isfinite(p.half_life_s) else "inf"
        print(
            f"{p.rank:>4} {p.symbol_y + '/' + p.symbol_x:<22} {p.qvalue:>8.2g} {p.pvalue:>8.2g} "
            f"{p.hedge_ratio:>8.4g} {p.hedge_ratio_cv:>7.2f} {hl:>10} {p.hurst:>6.2f} "
            f"{p.return_correlation:>6.2f} {p.liquidity:>11.4g}"
        )
    print(f"{len(result.discoveries(args.q))} pair(s) at q <= {args.q}")
    return 0


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    from quant_platform.queries.research import LivePairs

    y, sep, x = args.pair.upper().partition("/")
    if not sep or not y or not x or y == x:
        print(
            f"promote: {args.pair!r} is not a pair; use Y/X, e.g. ETHUSDT/BTCUSDT", file=sys.stderr
        )
        return 2
    live = LivePairs(settings.database_url, settings.redis_url, settings.redis_prefix)
    try:
        if args.remove:
            live.demote(y, x)
            print(f"removed {y}/{x} from the live pair set")
        else:
            live.promote(y, x, added_by="cli")
            print(f"promoted {y}/{x}: the daemon computes it from its next cycle")
            missing = [s for s in (y, x) if s not in settings.symbols]
            if missing:
                print(f"  note: {', '.join(missing)} not in QP_SYMBOLS; the feed must carry it")
    finally:
        live.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "screen",
        help="screen every pair for cointegration, ranked by FDR q-value",
        description=(
            "Engle-Granger both ways, Johansen trace, hedge ratio and its stability, half-life, "
            "Hurst, mean crossings, return correlation and liquidity for every pair; "
            "Benjamini-Hochberg q-values across the universe."
        ),
    )
    p.add_argument("--symbols", help="comma-separated universe (default: QP_SYMBOLS)")
    p.add_argument(
        "--all-symbols", action="store_true", help="every symbol with bars in the window"
    )
    p.add_argument("--timeframe", default="1m", help="bar interval in ohlcv (default 1m)")
    p.add_argument("--lookback", default="7d", help="window, e.g. 7d, 12h (default 7d)")
    p.add_argument(
        "--min-quote-volume",
        type=float,
        default=0.0,
        help="liquidity floor: median quote volume per bar (symbols below are not tested)",
    )
    p.add_argument("--min-obs", type=int, default=100, help="fewest bars a symbol needs")
    p.add_argument("--q", type=float, default=0.05, help="q-value cut reported (default 0.05)")
    p.add_argument("--top", type=int, default=20, help="rows printed (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per pair, ranked")
    p.add_argument("--no-save", action="store_true", help="do not store the screen")
    p.set_defaults(func=_run)
    pr = sub.add_parser("promote", help="add a screened pair to the live pair set (no restart)")
    pr.add_argument("pair", help="Y/X, e.g. ETHUSDT/BTCUSDT")
    pr.add_argument("--remove", action="store_true", help="take it out of the live set instead")
    pr.set_defaults(func=_promote)
