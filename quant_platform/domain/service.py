"""The health of one backing service, as `qp services status` and the dashboard show it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    """`name` is the service (postgresql, timescaledb, redis); `detail` says why it is (not) up."""

    name: str
    up: bool
    detail: str
