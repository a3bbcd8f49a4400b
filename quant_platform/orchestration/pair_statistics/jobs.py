"""The statistics recomputation job (small: one asset, run in-process)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from quant_platform.orchestration.pair_statistics.assets import pair_statistics

pair_statistics_job = define_asset_job(
    name="pair_statistics_job",
    selection=AssetSelection.assets(pair_statistics),
    executor_def=in_process_executor,
    tags={"qp/lane": "statistics"},
    description="Recompute batch pair statistics from the stored 1m bars.",
)
