"""The backtest sweep split into steps: one step per slice of the lookbacks, merged at the end.

A sweep of lookbacks x entries x exits is CPU-bound, and each lookback's row of
the grid is independent of the others (the signal is computed once per
lookback). Here the first step loads the pair's bars once and cuts the lookbacks
into `parts` contiguous slices; one dynamic step per slice runs
:func:`~quant_platform.analytics.backtest.sweep` on it (on whichever Celery
worker is free, QP_DAGSTER_EXECUTOR=celery); the last step stacks the slices
(:func:`~quant_platform.analytics.backtest.merge_sweeps`), which is bit for bit
the grid one `sweep` over all the lookbacks gives, and writes it as a report CSV
next to the daily backtests' trade files, with the best cells in the step's
metadata. Bars and slices pass between steps through the job's IO manager
(files under DAGSTER_HOME/storage), which every worker must reach.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    DynamicOut,
    DynamicOutput,
    ExecutorDefinition,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Out,
    Output,
    graph,
    op,
)

from quant_platform.analytics.backtest import (
    BacktestError,
    BacktestParams,
    PairBars,
    SweepResult,
    merge_sweeps,
    split_lookbacks,
    sweep,
)
from quant_platform.orchestration.backtest.assets import BacktestCostsConfig, write_report_csv
from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.queries.backtest import load_pair_bars, parse_pair

# The daily backtest's lane: never the resample queue, so a sweep never delays a resample.
SWEEP_LANE_TAGS: dict[str, str] = {"qp/lane": "statistics"}


class BacktestSweepFanoutConfig(BacktestCostsConfig):
    """The pair, the span [start, end) (ISO, UTC when naive), the grid, and how many steps.

    Hedge, exits other than the z-score, and costs are the daily backtest's knobs; the
    grid takes the place of its single entry, exit and lookback.
    """

    pair: str
    start: str
    end: str
    lookbacks: list[int] = [60, 120, 240, 480]
    entries: list[float] = [1.5, 2.0, 2.5, 3.0]
    exits: list[float] = [0.0, 0.25, 0.5, 1.0]
    parts: int = 4


@dataclass(frozen=True)
class SweepInputs:
    """What every slice needs: the bars, the rule and costs, the entries and exits."""

    bars: PairBars
    params: BacktestParams
    entries: list[float]
    exits: list[float]
    report_stem: str


def _utc(key: str, text: str) -> datetime:
    """ISO text as a UTC datetime (naive means UTC).

    Raises:
        ValueError: not ISO 8601, naming the config key and an example.
    """
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key}: {text!r} is not an ISO time; e.g. 2026-11-01T00:00") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _grid_params(config: BacktestSweepFanoutConfig) -> BacktestParams:
    """The shared knobs with the grid's widest entry, as `sweep` checks them, before any step.

    `sweep` sets entry, exit and lookback per cell (and skips cells with exit >= entry).

    Raises:
        BacktestError: a list of the grid is empty, or a knob is out of range.
    """
    if not (config.entries and config.exits and config.lookbacks):
        raise BacktestError("entries, exits and lookbacks each need at least one value")
    return config.params_with(max(config.entries), 0.0, config.lookbacks[0])


@op(
    out={"inputs": Out(SweepInputs), "slices": DynamicOut(tuple[int, list[int]])},
    description="Load the pair's bars once, cut the lookbacks into contiguous slices.",
)
def plan_backtest_sweep(
    context: OpExecutionContext, config: BacktestSweepFanoutConfig, timescale: TimescaleResource
) -> Iterator[Output[SweepInputs] | DynamicOutput[tuple[int, list[int]]]]:
    """The bars once, then one dynamic output per slice of the lookbacks.

    Raises:
        Failure: the config is wrong (pair, start, end, a grid list or knob) or the span
            has no bars; one sentence names it, so the UI shows no traceback.
    """
    try:  # config first, so a typo fails in a second with its key named, not after the load
        pair = parse_pair(config.pair)
        start, end = _utc("start", config.start), _utc("end", config.end)
        params = _grid_params(config)
        slices = split_lookbacks(config.lookbacks, config.parts)
        with timescale.connect() as conn:
            bars = load_pair_bars(conn, pair, config.timeframe, start, end)
    except ValueError as exc:  # BacktestError and NoBarsError are ValueErrors: user input
        raise Failure(description=f"backtest sweep not started: {exc}") from None
    cells = len(config.lookbacks) * len(config.entries) * len(config.exits)
    context.log.info(f"{pair.name}: {bars.time_ms.size} bars, {cells} cells in {len(slices)}")
    stem = f"sweep_{pair.y}-{pair.x}_{start:%Y%m%dT%H%M}_{end:%Y%m%dT%H%M}"
    yield Output(
        SweepInputs(bars, params, config.entries, config.exits, stem),
        output_name="inputs",
    )
    for i, lookbacks in enumerate(slices):
        yield DynamicOutput((i, lookbacks), output_name="slices", mapping_key=f"part_{i}")


@op(description="Sweep one slice of the lookbacks over every entry x exit.")
def sweep_lookback_slice(
    context: OpExecutionContext, inputs: SweepInputs, lookbacks: tuple[int, list[int]]
) -> tuple[int, SweepResult]:
    i, lbs = lookbacks
    t0 = time.process_time()
    result = sweep(inputs.bars, inputs.params, inputs.entries, inputs.exits, lbs)
    context.log.info(f"lookbacks {lbs} in {time.process_time() - t0:.2f} CPU s")
    return i, result


@op(description="Stack the slices into the whole grid; write it as a report CSV.")
def merge_and_store_sweep(
    context: OpExecutionContext,
    platform: PlatformSettingsResource,
    inputs: SweepInputs,
    slices: list[tuple[int, SweepResult]],
) -> Output[SweepResult]:
    grid = merge_sweeps([r for _, r in sorted(slices, key=lambda s: s[0])])
    frame = grid.frame()
    csv_path = write_report_csv(frame, platform.reports_dir, inputs.report_stem)
    top = frame.sort_values("sharpe", ascending=False, na_position="last").head(10)
    context.log.info(f"{len(frame)} cells from {len(slices)} slices -> {csv_path}")
    return Output(
        grid,
        metadata={
            "pair": f"{inputs.bars.y_symbol}/{inputs.bars.x_symbol}",
            "bars": int(inputs.bars.time_ms.size),
            "cells": len(frame),
            "parts": len(slices),
            "top_cells": MetadataValue.md(
                top.to_markdown(index=False) if not top.empty else "no cells"
            ),
            "sweep_csv": MetadataValue.path(str(csv_path.resolve())),
            "dagster/row_count": len(frame),
        },
    )


@graph
def backtest_sweep_fanout() -> None:
    inputs, slices = plan_backtest_sweep()
    merge_and_store_sweep(inputs, slices.map(lambda s: sweep_lookback_slice(inputs, s)).collect())


def build_backtest_sweep_fanout_job(
    executor_def: ExecutorDefinition, resource_defs: dict[str, object] | None = None
) -> JobDefinition:
    """The split sweep on `executor_def`; `resource_defs` as in `build_ohlcv_backfill_job`."""
    return backtest_sweep_fanout.to_job(
        name="backtest_sweep_fanout_job",
        executor_def=executor_def,
        resource_defs=resource_defs,
        tags=SWEEP_LANE_TAGS,
        description=(
            "A pair's backtest sweep (lookbacks x entries x exits) split into steps, one "
            "per slice of the lookbacks, fanned out over the Celery workers "
            "(QP_DAGSTER_EXECUTOR=celery); the merged grid is written to the reports dir."
        ),
    )
