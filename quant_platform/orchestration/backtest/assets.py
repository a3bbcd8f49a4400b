"""`pair_backtest`: yesterday's trading of each configured pair, as the backtest would have done it.

Partitioned by UTC day x pair. Each run backtests the pair inside the day (the
signal warmed up on the bars before it) with the configured rule and costs,
including funding, and shows the summary table, cost breakdown and equity
curve (with trade markers) in the materialisation's metadata; the trades are
written to QP_DATA_DIR/reports/backtest_<pair>_<day>.csv.
"""

import os
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
)

from quant_platform.analytics.backtest import BacktestParams
from quant_platform.config import get_settings
from quant_platform.orchestration.backtest.figures import equity_markdown_image
from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.partitions import daily_start
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.queries.backtest import NoBarsError, Pair, backtest_span, summary


def pair_key(y: str, x: str) -> str:
    """Partition key of a pair: `ETHUSDT-BTCUSDT` (a '/' is not a safe key character)."""
    return f"{y}-{x}"


def _pair_keys() -> list[str]:
    s = get_settings()
    return [pair_key(y, x) for y, x in s.pair_list]


BACKTEST_PARTITIONS = MultiPartitionsDefinition(
    {
        "date": DailyPartitionsDefinition(start_date=daily_start(get_settings()), timezone="UTC"),
        "pair": StaticPartitionsDefinition(_pair_keys()),
    }
)


class BacktestCostsConfig(Config):
    """Timeframe, exits other than the z-score, hedge and costs: shared by the daily backtest
    and the sweep (the sweep's grid replaces entry, exit and lookback, so it has none)."""

    timeframe: str = "1m"
    stop: float | None = None
    max_hold_bars: int | None = None
    hedge: str = "rolling"
    neutrality: str = "dollar"
    notional: float = 10_000.0
    taker_fee_bps: float = 5.0
    slippage_bps: float = 1.0

    def params_with(self, entry: float, exit: float, lookback: int) -> BacktestParams:
        """These knobs plus one rule (entry, exit, lookback), validated.

        Raises:
            BacktestError: a knob is out of range (named in the message).
        """
        return BacktestParams(
            entry=entry,
            exit=exit,
            stop=self.stop,
            max_hold_bars=self.max_hold_bars,
            lookback=lookback,
            hedge=self.hedge,  # type: ignore[arg-type]
            neutrality=self.neutrality,  # type: ignore[arg-type]
            notional=self.notional,
            taker_fee_bps=self.taker_fee_bps,
            slippage_bps=self.slippage_bps,
        ).validate()


class PairBacktestConfig(BacktestCostsConfig):
    """Rule and costs of the daily backtest (the `qp backtest` defaults)."""

    entry: float = 2.0
    exit: float = 0.5
    lookback: int = 120

    def params(self) -> BacktestParams:
        """The daily backtest's parameters, validated.

        Raises:
            BacktestError: a knob is out of range (named in the message).
        """
        return self.params_with(self.entry, self.exit, self.lookback)


def write_report_csv(frame: pd.DataFrame, reports_dir: str, stem: str) -> Path:
    """`frame` as `<reports_dir>/<stem>.csv`, replaced atomically (a reader never sees half).

    Raises:
        OSError: the directory cannot be created or written.
    """
    out_dir = Path(reports_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{stem}.csv"
    tmp = csv_path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, csv_path)
    return csv_path


def summary_markdown(s: dict[str, object]) -> str:
    keys = [
        "n_trades",
        "net_pnl",
        "gross_pnl",
        "total_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "hit_rate",
        "turnover",
    ]
    costs = s["costs"]
    assert isinstance(costs, dict)
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(s.get(k))} |" for k in keys]
    lines += [f"| {k} cost | {_fmt(costs[k])} |" for k in ("fees", "slippage", "funding", "total")]
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.4f}" if isinstance(v, float) else str(v)


@asset(
    group_name="research",
    kinds={"timescaledb", "python"},
    partitions_def=BACKTEST_PARTITIONS,
    deps=[ohlcv],
    description=(
        "Backtest of one configured pair over one UTC day (z-score rule on a causal hedge; "
        "fees, slippage and funding). Metadata: summary, cost breakdown, equity curve."
    ),
)
def pair_backtest(
    context: AssetExecutionContext,
    config: PairBacktestConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> MaterializeResult:
    key = context.partition_key
    assert isinstance(key, MultiPartitionKey)
    day, pk = key.keys_by_dimension["date"], key.keys_by_dimension["pair"]
    y, x = pk.split("-")
    pair = Pair(y, x)
    window = context.partition_time_window
    try:
        with timescale.connect() as conn:
            result = backtest_span(
                conn, pair, config.timeframe, window.start, window.end, config.params()
            )
    except NoBarsError as exc:
        context.log.warning(str(exc))
        return MaterializeResult(metadata={"status": str(exc), "n_trades": 0})
    s = summary(result, pair)
    csv_path = write_report_csv(result.trades_frame(), platform.reports_dir, f"backtest_{pk}_{day}")
    m = result.metrics
    return MaterializeResult(
        metadata={
            "pair": pair.name,
            "n_trades": m.n_trades,
            "net_pnl": float(m.net_pnl),
            "sharpe": MetadataValue.float(float(m.sharpe)) if m.sharpe == m.sharpe else "n/a",
            "fees": float(m.fees),
            "slippage": float(m.slippage),
            "funding": float(m.funding),
            "summary": MetadataValue.md(summary_markdown(s)),
            "equity": MetadataValue.md(equity_markdown_image(result)),
            "trades_csv": MetadataValue.path(str(csv_path.resolve())),
            "dagster/row_count": m.n_trades,
        }
    )
