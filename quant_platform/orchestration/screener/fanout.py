"""The pair screen split into steps: one step per part of the pairs, ranked together at the end.

A screen of n symbols is n(n-1)/2 independent pair tests (CPU-bound: two ADF
regressions, Johansen, Hurst per pair) followed by one Benjamini-Hochberg
adjustment across all of them. Here the first step loads the bar window once and
cuts the pairs into `parts` parts; one dynamic step per part tests its pairs
(on whichever Celery worker is free, QP_DAGSTER_EXECUTOR=celery); the last step
adjusts and ranks across the whole universe, so the q-values and ranks are
exactly those of `screen_pairs` on the same window, and stores the screen under
the day's key like the `pair_screen` asset, recording that asset's partition.
The window and the parts' rows pass between steps through the job's IO manager
(files under DAGSTER_HOME/storage), which every worker must reach: on one
machine it is the same disk; across machines, a shared volume.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from dagster import (
    AssetMaterialization,
    Config,
    DynamicOut,
    DynamicOutput,
    ExecutorDefinition,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    graph,
    op,
)

from quant_platform.analytics.screener import (
    PairScreen,
    ScreenConfig,
    ScreenPlan,
    plan_screen,
    rank_screen,
    screen_pair_list,
)
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.orchestration.screener.assets import SCREEN_PARTITIONS
from quant_platform.queries.research import (
    BarWindow,
    interval_seconds,
    load_bar_window,
    save_screen,
)

SCREEN_LANE_TAGS: dict[str, str] = {"qp/lane": "statistics"}


class PairScreenFanoutConfig(Config):
    """The `pair_screen` asset's knobs, the day to screen, and how many steps to split into."""

    day: str
    timeframe: str = "1m"
    lookback_days: float = 7.0
    all_symbols: bool = False
    min_quote_volume: float = 0.0
    min_obs: int = 100
    top: int = 10
    parts: int = 8


@dataclass(frozen=True)
class ScreenInputs:
    """What every part needs: the bar window, the plan, and where the screen is stored."""

    screen_id: str
    window: BarWindow
    plan: ScreenPlan
    top: int


def split_pairs(pairs: list[tuple[str, str]], parts: int) -> list[list[tuple[str, str]]]:
    """`pairs` dealt round-robin into at most `parts` non-empty parts (balanced sizes).

    Raises:
        ValueError: parts < 1.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    dealt = [pairs[i::parts] for i in range(parts)]
    return [p for p in dealt if p]


@op(
    out={"inputs": Out(ScreenInputs), "parts": DynamicOut(list[tuple[str, str]])},
    description="Load the bar window once, plan the screen, deal the pairs into parts.",
)
def plan_pair_screen(
    context: OpExecutionContext,
    config: PairScreenFanoutConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> Iterator[Output[ScreenInputs] | DynamicOutput[list[tuple[str, str]]]]:
    window_end = SCREEN_PARTITIONS.time_window_for_partition_key(config.day).end
    cfg = ScreenConfig(
        min_obs=config.min_obs,
        min_quote_volume=config.min_quote_volume,
        bar_seconds=float(interval_seconds(config.timeframe)),
    )
    symbols = None if config.all_symbols else list(platform.symbols)
    with timescale.connect() as conn:
        window = load_bar_window(
            conn, symbols, config.timeframe, timedelta(days=config.lookback_days), window_end
        )
    plan = plan_screen(window.log_prices, window.quote_volume, cfg)
    context.log.info(f"{len(plan.pairs)} pairs of {window.log_prices.shape[1]} symbols")
    yield Output(ScreenInputs(config.day, window, plan, config.top), output_name="inputs")
    for i, part in enumerate(split_pairs(plan.pairs, config.parts)):
        yield DynamicOutput(part, output_name="parts", mapping_key=f"part_{i}")


@op(description="Test one part of the pairs (unranked rows, and the pairs that failed).")
def screen_pair_part(
    context: OpExecutionContext, inputs: ScreenInputs, pairs: list[tuple[str, str]]
) -> tuple[list[PairScreen], dict[str, str]]:
    t0 = time.process_time()
    rows, failed = screen_pair_list(inputs.window.log_prices, inputs.plan, pairs)
    context.log.info(f"{len(pairs)} pairs in {time.process_time() - t0:.2f} CPU s")
    return rows, failed


@op(description="BH q-values and ranks across every part; store the screen; record the asset.")
def rank_and_store_screen(
    context: OpExecutionContext,
    timescale: TimescaleResource,
    inputs: ScreenInputs,
    parts: list[tuple[list[PairScreen], dict[str, str]]],
) -> Iterator[AssetMaterialization | Output[int]]:
    rows = [r for part_rows, _ in parts for r in part_rows]
    failed = {k: v for _, part_failed in parts for k, v in part_failed.items()}
    result = rank_screen(rows, inputs.plan.excluded, failed)
    with timescale.connect() as conn:
        written = save_screen(conn, inputs.screen_id, inputs.window, result)
    top = result.frame().head(inputs.top)
    columns = ["rank", "symbol_y", "symbol_x", "qvalue", "pvalue", "hedge_ratio", "half_life_s"]
    yield AssetMaterialization(
        asset_key="pair_screen",
        partition=inputs.screen_id,
        metadata={
            "pairs": written,
            "parts": len(parts),
            "discoveries_q05": len(result.discoveries()),
            "excluded": MetadataValue.json(result.excluded),
            "failed": MetadataValue.json(result.failed),
            "top_pairs": MetadataValue.md(
                top[columns].to_markdown(index=False) if not top.empty else "no pairs"
            ),
            "dagster/row_count": written,
        },
    )
    yield Output(written)


@graph
def pair_screen_fanout() -> None:
    inputs, parts = plan_pair_screen()
    rank_and_store_screen(inputs, parts.map(lambda p: screen_pair_part(inputs, p)).collect())


def build_pair_screen_fanout_job(
    executor_def: ExecutorDefinition, resource_defs: dict[str, object] | None = None
) -> JobDefinition:
    """The split screen on `executor_def`; `resource_defs` as in `build_ohlcv_backfill_job`."""
    return pair_screen_fanout.to_job(
        name="pair_screen_fanout_job",
        executor_def=executor_def,
        resource_defs=resource_defs,
        tags=SCREEN_LANE_TAGS,
        description=(
            "The pair screen of one day split into steps (one per part of the pairs), "
            "fanned out over the Celery workers (QP_DAGSTER_EXECUTOR=celery)."
        ),
    )
