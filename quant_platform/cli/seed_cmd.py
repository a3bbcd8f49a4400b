"""`qp seed`: load hours of past trades from the venue's REST API and resample them to bars.

`qp up` runs this on a first start with the simulator feed, so every chart,
statistic, check and report has a day of data from minute one. It uses the
same paths as the live venue: REST (`aggTrades` to find the start,
`historicalTrades`/`aggTrades` to page), the daemon's `TradeWriter` (idempotent
COPY), and the OHLCV asset's own `resample_window` for the bars.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from quant_platform.config import Settings
from quant_platform.domain.trade import Trade
from quant_platform.feed.backfill import BackfillError, WeightBudget
from quant_platform.feed.history import HistoryFetcher, SymbolHistory
from quant_platform.storage.trade_writer import TradeWriter

log = logging.getLogger(__name__)
WRITE_BATCH = 20_000


@dataclass
class SeedResult:
    """Per-symbol fetch results, rows stored, bars written, seconds taken."""

    symbols: dict[str, SymbolHistory] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    stored: int = 0
    bars: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def first(self) -> datetime | None:
        firsts = [h.first_ms for h in self.symbols.values() if h.first_ms is not None]
        return datetime.fromtimestamp(min(firsts) / 1000, UTC) if firsts else None


def symbols_without_trades(database_url: str, symbols: list[str]) -> list[str]:
    """Symbols with no stored trade at all: only those are seeded (a restart seeds nothing)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s FROM unnest(%s::text[]) AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM trades t WHERE t.symbol = s)",
            (symbols,),
        ).fetchall()
    return [r[0] for r in rows]


def wait_for_rest(rest_url: str, timeout_s: float = 60.0) -> None:
    """Until the venue answers `/fapi/v1/ping`.

    Raises:
        TimeoutError: no answer in time (the message names the URL)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{rest_url}/fapi/v1/ping", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no REST answer from {rest_url} within {timeout_s:.0f} s")
        time.sleep(0.3)


def seed_history(
    settings: Settings,
    rest_url: str,
    hours: float,
    *,
    weight_per_min: int = 2400,
    now: datetime | None = None,
) -> SeedResult:
    """Fetch the last `hours` of trades for symbols with none stored, store, resample.

    Raises BackfillError when the venue refuses, psycopg.Error when the database does.
    """
    from quant_platform.orchestration.ohlcv.assets import resample_window

    t0 = time.perf_counter()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per page is noise here
    result = SeedResult()
    todo = symbols_without_trades(settings.database_url, list(settings.symbols))
    result.skipped = [s for s in settings.symbols if s not in todo]
    if not todo or hours <= 0:
        result.seconds = time.perf_counter() - t0
        return result
    end = now or datetime.now(UTC)
    start_ms = int((end - timedelta(hours=hours)).timestamp() * 1000)
    writer = TradeWriter(settings.database_url, statement_timeout_s=120.0)
    pending: list[Trade] = []

    def sink(trades: list[Trade]) -> None:
        pending.extend(trades)
        if len(pending) >= WRITE_BATCH:
            result.stored += writer.write(pending)
            pending.clear()

    async def fetch_all() -> None:
        budget = WeightBudget(per_minute=weight_per_min)
        key = settings.binance_api_key
        api_key = key.get_secret_value() if key else None
        async with HistoryFetcher(rest_url, budget=budget, api_key=api_key) as fetcher:
            for s in todo:
                result.symbols[s] = await fetcher.fetch_range(s, settings.stream, start_ms, sink)

    try:
        asyncio.run(fetch_all())
        result.stored += writer.write(pending)
    finally:
        writer.close()
    first = result.first
    if first is not None:
        lo = first.replace(minute=0, second=0, microsecond=0)
        hi = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        with psycopg.connect(settings.database_url) as conn:
            result.bars = resample_window(conn, lo, hi)
    result.seconds = time.perf_counter() - t0
    return result


def report_bars_to_dagster(dagster_home: str, first: datetime, end: datetime) -> int:
    """Record the seeded hours as `ohlcv` materialisations so the Catalog shows them filled.

    Returns the partitions reported (the open hour is left to the resample sensor).
    The instance config reads its storage path from DAGSTER_HOME, so it is set here.
    """
    from dagster import AssetMaterialization, DagsterInstance

    os.environ["DAGSTER_HOME"] = dagster_home

    from quant_platform.orchestration.ohlcv.sensors import partition_key_for

    keys = []
    t = first.replace(minute=0, second=0, microsecond=0)
    while t < end.replace(minute=0, second=0, microsecond=0):
        keys.append(partition_key_for(t))
        t += timedelta(hours=1)
    with DagsterInstance.from_config(dagster_home) as instance:
        for key in keys:
            instance.report_runless_asset_event(
                AssetMaterialization(
                    asset_key="ohlcv",
                    partition=key,
                    description="resampled from the history `qp up` seeded over REST",
                    metadata={"source": "qp seed"},
                )
            )
    return len(keys)


def describe(result: SeedResult) -> str:
    n = sum(h.trades for h in result.symbols.values())
    pages = sum(h.pages for h in result.symbols.values())
    return (
        f"seeded {n} trades ({result.stored} new) in {pages} REST pages for "
        f"{', '.join(result.symbols) or 'no symbol'}; bars {result.bars}; "
        f"{result.seconds:.1f} s"
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    rest = (args.rest_url or settings.rest_url).rstrip("/")
    try:
        wait_for_rest(rest, timeout_s=args.wait_s)
        result = seed_history(settings, rest, args.hours, weight_per_min=args.weight_per_min)
    except (TimeoutError, BackfillError, psycopg.Error) as exc:
        print(f"qp seed: {exc}")
        return 1
    print(describe(result))
    if result.skipped:
        print(f"  already had trades (not seeded): {', '.join(result.skipped)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "seed", help="load the last hours of trades over REST (symbols with no trades yet)"
    )
    p.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    p.add_argument("--rest-url", default=None, help="venue REST base URL (default QP_REST_URL)")
    p.add_argument(
        "--weight-per-min",
        type=int,
        default=2400,
        help="REST weight budget per minute (the venue's limit is 2400)",
    )
    p.add_argument("--wait-s", type=float, default=30.0, help="wait this long for the venue")
    p.set_defaults(func=_run)
