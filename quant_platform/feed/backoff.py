"""Reconnect pacing: exponential backoff with full jitter, and a give-up limit.

Full jitter (sleep uniformly in [0, min(cap, base * 2**n)]) spreads reconnects
of many clients after a venue-wide disconnect instead of synchronising them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


class TooManyFailures(RuntimeError):
    """Raised when consecutive connection failures reach the configured limit."""


@dataclass
class Backoff:
    base_s: float = 0.5
    cap_s: float = 30.0
    max_failures: int = 10
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def failed(self, reason: str) -> float:
        """Record a failed attempt; returns the delay before the next one.

        Raises TooManyFailures on reaching `max_failures` in a row.
        """
        self.failures += 1
        if self.failures >= self.max_failures:
            raise TooManyFailures(
                f"{self.failures} consecutive connection failures (last: {reason}); giving up "
                f"(QP_MAX_CONSECUTIVE_FAILURES={self.max_failures})"
            )
        return self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0 ** (self.failures - 1)))

    def succeeded(self) -> None:
        """A healthy connection (data flowing) resets the failure count."""
        self.failures = 0
