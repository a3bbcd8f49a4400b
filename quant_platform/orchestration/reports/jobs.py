"""The daily report job (partitioned by day, in-process)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from quant_platform.orchestration.reports.assets import daily_report

daily_report_job = define_asset_job(
    name="daily_report_job",
    selection=AssetSelection.assets(daily_report),
    executor_def=in_process_executor,
    tags={"qp/lane": "reports"},
    description="Write the HTML + CSV report of one UTC day.",
)
