"""The health of one backing service, as `qp services status` and the dashboard show it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    """`name` is the service (postgresql, timescaledb, redis); `detail` says why it is (not) up."""

    name: str
    up: bool
    detail: str


# Exit status of a process that gave up on something outside it (the venue unreachable
# after its retry limit): "try again later" (sysexits EX_TEMPFAIL). `qp up`'s supervisor
# restarts such an exit for as long as it takes, with capped backoff, and does not count
# it toward the crash-loop budget; any other non-zero exit is a crash.
EXIT_TEMPFAIL = 75
