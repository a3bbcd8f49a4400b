"""The report job (one op: build, archive, deliver) and a schedule per report definition.

Schedules decide (the tick time and which report), the job acts. A definition's
schedule passes its name and the tick time as run config, so a re-run of a tick
rebuilds the same span.
"""

from datetime import UTC, datetime

from dagster import (
    Config,
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    job,
    op,
)

from quant_platform.orchestration.resources import PlatformSettingsResource, TimescaleResource
from quant_platform.reporting.definitions import ReportDefinition, load_definitions


class ScheduledReportConfig(Config):
    name: str
    end: str = ""  # ISO time; empty: now
    reports_file: str = ""  # empty: QP_REPORTS_FILE


@op(description="Build one scheduled report, archive it and deliver it through its sinks.")
def scheduled_report_op(
    context: OpExecutionContext,
    config: ScheduledReportConfig,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> Output[str]:
    """Build and deliver one report of QP_REPORTS_FILE (the run config names it).

    Raises:
        ValueError: the report named in the run config is not in QP_REPORTS_FILE.
    """
    from quant_platform.config import get_settings
    from quant_platform.reporting.archive import run_report

    path = config.reports_file or get_settings().reports_file
    defs = {d.name: d for d in load_definitions(path)}
    if config.name not in defs:
        raise ValueError(f"no report named {config.name!r} in {path}; defined: {sorted(defs)}")
    end = datetime.fromisoformat(config.end) if config.end else None
    run = run_report(timescale.database_url, platform.reports_dir, defs[config.name], end)
    for r in run.deliveries:
        (context.log.info if r.ok else context.log.warning)(
            f"delivery via {r.sink}: {'ok' if r.ok else r.error}"
        )
    return Output(
        str(run.path),
        metadata={
            "first_line": run.report.first_line,
            "has_data": run.report.has_data,
            "path": MetadataValue.path(str(run.path)),
            "delivered": sum(r.ok for r in run.deliveries),
            "failed": sum(not r.ok for r in run.deliveries),
        },
    )


@job(tags={"qp/lane": "reports"}, description="Build and deliver one scheduled report.")
def scheduled_report_job() -> None:
    scheduled_report_op()


def _schedule_for(d: ReportDefinition, reports_file: str) -> ScheduleDefinition:
    def evaluate(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time.astimezone(UTC)
        return RunRequest(
            run_key=f"{d.name}:{tick:%Y%m%dT%H%M}",
            run_config={
                "ops": {
                    "scheduled_report_op": {
                        "config": {
                            "name": d.name,
                            "end": tick.isoformat(),
                            "reports_file": reports_file,
                        }
                    }
                }
            },
            tags={"qp/report": d.name},
        )

    return ScheduleDefinition(
        name=f"report_{d.name.replace('-', '_')}",
        cron_schedule=d.cron,
        execution_timezone="UTC",
        job=scheduled_report_job,
        execution_fn=evaluate,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Report {d.name!r}: {', '.join(d.sections)} over {d.raw_lookback}.",
    )


def build_report_schedules(reports_file: str | None) -> list[ScheduleDefinition]:
    """One schedule per definition in `reports_file` ([] when unset).

    Raises:
        ReportDefinitionError: a bad definition (the code location fails to load, loudly).
    """
    if not reports_file:
        return []
    return [_schedule_for(d, str(reports_file)) for d in load_definitions(reports_file)]
