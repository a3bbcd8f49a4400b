"""The daily pair screen: every pair of the universe, ranked by Benjamini-Hochberg q-value.

One partition per UTC day: the screen over the `lookback_days` of bars ending at
the partition's end, stored in `pair_screens` under the partition key (a re-run
replaces it), with the top pairs as metadata in the Dagster UI.
"""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_platform.analytics.screener import ScreenConfig, screen_pairs
from quant_platform.config import get_settings
from quant_platform.orchestration.ohlcv.assets import ohlcv
from quant_platform.orchestration.partitions import daily_start
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.queries.research import interval_seconds, load_bar_window, save_screen

# Closed UTC days only, from the data's start (as every partitioned asset): the schedule
# screens the day that just ended.
SCREEN_PARTITIONS = DailyPartitionsDefinition(start_date=daily_start(get_settings()))


class PairScreenConfig(Config):
    """Universe and window of the screen; the defaults are the README's."""

    timeframe: str = "1m"
    lookback_days: float = 7.0
    all_symbols: bool = False  # True: every symbol with bars, not only QP_SYMBOLS
    min_quote_volume: float = 0.0
    min_obs: int = 100
    top: int = 10


@asset(
    group_name="research",
    kinds={"timescaledb", "python"},
    partitions_def=SCREEN_PARTITIONS,
    deps=[ohlcv],
    description=(
        "Pair screen over the bars ending at the partition's day end: Engle-Granger both "
        "ways, Johansen trace, hedge ratio and stability, half-life, Hurst, mean crossings, "
        "return correlation, liquidity; Benjamini-Hochberg q-values across the universe. "
        "Rows in `pair_screens` (screen_id = partition key)."
    ),
    metadata={"table": "pair_screens"},
)
def pair_screen(
    context: AssetExecutionContext,
    config: PairScreenConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> MaterializeResult:
    window_end = context.partition_time_window.end
    step = interval_seconds(config.timeframe)
    cfg = ScreenConfig(
        min_obs=config.min_obs, min_quote_volume=config.min_quote_volume, bar_seconds=float(step)
    )
    symbols = None if config.all_symbols else list(platform.symbols)
    with timescale.connect() as conn:
        window = load_bar_window(
            conn, symbols, config.timeframe, timedelta(days=config.lookback_days), window_end
        )
        result = screen_pairs(window.log_prices, window.quote_volume, cfg)
        written = save_screen(conn, context.partition_key, window, result)
    top = result.frame().head(config.top)
    columns = ["rank", "symbol_y", "symbol_x", "qvalue", "pvalue", "hedge_ratio", "half_life_s"]
    context.log.info(
        "screened %d pairs of %d symbols; %d at q <= 0.05",
        written,
        window.log_prices.shape[1],
        len(result.discoveries()),
    )
    return MaterializeResult(
        metadata={
            "pairs": written,
            "symbols": window.log_prices.shape[1],
            "discoveries_q05": len(result.discoveries()),
            "excluded": MetadataValue.json(result.excluded),
            "failed": MetadataValue.json(result.failed),
            "top_pairs": MetadataValue.md(
                top[columns].to_markdown(index=False) if not top.empty else "no pairs"
            ),
            "dagster/row_count": written,
        }
    )
