"""One job running every data-quality check (no materialisation), in-process."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from quant_platform.orchestration.quality.checks import ohlcv_checks, trades_checks

quality_checks_job = define_asset_job(
    name="quality_checks_job",
    selection=AssetSelection.checks(*ohlcv_checks, *trades_checks),
    executor_def=in_process_executor,
    tags={"qp/lane": "quality"},
    description="Run the OHLCV and trades data-quality checks over the last day.",
)
