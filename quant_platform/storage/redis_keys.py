"""The Redis key layout, in one place: every key lives under the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    """Key names for one prefix (QP_REDIS_PREFIX); symbols are validated upstream."""

    prefix: str = "qp:"

    def ticks(self, symbol: str) -> str:
        """Per-symbol trade stream (XADD with approximate MAXLEN)."""
        return f"{self.prefix}ticks:{symbol}"

    def last_trade(self, symbol: str) -> str:
        """Hash of the latest price/qty/time, 60 s TTL."""
        return f"{self.prefix}last:{symbol}"

    def pair_analytics(self, symbol_y: str, symbol_x: str) -> str:
        """JSON of the live pair metrics, 60 s TTL."""
        return f"{self.prefix}analytics:pair:{symbol_y}-{symbol_x}"

    def symbol_analytics(self, symbol: str) -> str:
        """JSON of the live per-symbol execution metrics, 60 s TTL."""
        return f"{self.prefix}analytics:symbol:{symbol}"

    @property
    def alerts_stream(self) -> str:
        """Every fired alert, daemon and Dagster alike (read by the dispatch sensor)."""
        return f"{self.prefix}alerts"

    def alert_cooldown(self, rule: str, target: str) -> str:
        return f"{self.prefix}alert:cooldown:{rule}:{target}"

    @property
    def updates_channel(self) -> str:
        """Pub/sub channel announcing fresh analytics and alerts to live readers."""
        return f"{self.prefix}updates"

    @property
    def live_pairs(self) -> str:
        """Set of `Y/X` pairs promoted from the screener; the daemon re-reads it every cycle."""
        return f"{self.prefix}live:pairs"

    @property
    def feed_health(self) -> str:
        """Hash the daemon refreshes with its feed state (which feed, lag, counters)."""
        return f"{self.prefix}health:feed"
