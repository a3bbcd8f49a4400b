"""Alert sensors (cointegration break, stale feed, failed runs) and the dispatch job."""

from dagster import Definitions

from quant_platform.orchestration.alerting.jobs import alert_dispatch_job, alert_record_job
from quant_platform.orchestration.alerting.sensors import alerting_sensors

defs = Definitions(jobs=[alert_record_job, alert_dispatch_job], sensors=alerting_sensors)

__all__ = ["alert_dispatch_job", "alert_record_job", "alerting_sensors", "defs"]
