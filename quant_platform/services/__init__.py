"""Local, real PostgreSQL+TimescaleDB and Redis servers under the project data dir."""

from quant_platform.domain.service import ServiceStatus
from quant_platform.services.local import LocalPostgres, LocalRedis, provision

__all__ = ["LocalPostgres", "LocalRedis", "ServiceStatus", "provision"]
