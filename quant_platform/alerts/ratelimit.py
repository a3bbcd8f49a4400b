"""Token-bucket rate limiting for alerts, with a count of what it suppressed.

A misconfigured rule (threshold inside the noise) must not flood the webhook
or the inbox; the suppressed count is reported instead so the flood is
visible without being delivered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class RateLimit(NamedTuple):
    """`rate_per_s` tokens per second refill, up to `burst` tokens."""

    rate_per_s: float
    burst: float


class TokenBucket:
    """Classic token bucket; the clock is injectable for deterministic tests."""

    def __init__(
        self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError("rate_per_s must be >= 0 and burst >= 1")
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.suppressed = 0
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now

    def peek(self, now: float | None = None) -> bool:
        """Would `allow` succeed now (without taking a token or counting)?"""
        self._refill(self.clock() if now is None else now)
        return self.tokens >= 1.0

    def allow(self, now: float | None = None) -> bool:
        """Take a token if one is available; otherwise count a suppression."""
        self._refill(self.clock() if now is None else now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.suppressed += 1
        return False

    def take(self, now: float | None = None) -> None:
        """Take a token unconditionally (after `peek`), never below zero."""
        self._refill(self.clock() if now is None else now)
        self.tokens = max(0.0, self.tokens - 1.0)
