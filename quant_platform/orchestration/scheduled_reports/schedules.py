"""The scheduled-reports definitions: the job plus the schedules QP_REPORTS_FILE asks for."""

from dagster import Definitions

from quant_platform.config import get_settings
from quant_platform.orchestration.scheduled_reports.jobs import (
    build_report_schedules,
    scheduled_report_job,
)

_file = get_settings().reports_file
defs = Definitions(
    jobs=[scheduled_report_job],
    schedules=build_report_schedules(str(_file) if _file else None),
)
