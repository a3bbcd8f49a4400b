"""Per-stream liveness: a subscription the venue acknowledged but never feeds is a failure.

The 2026 Binance route change made unrouted URLs accept subscriptions and then
send nothing; a socket-level heartbeat cannot see that, so every stream keeps
its own clock. Quiet symbols get a longer threshold so they never cause restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StreamLiveness:
    streams: list[str]
    silence_s: float
    quiet_silence_s: float
    quiet_streams: frozenset[str] = frozenset()
    started_at: float = 0.0
    last_seen: dict[str, float] = field(default_factory=dict)
    last_any: float = 0.0

    def reset(self, now: float) -> None:
        self.started_at = now
        self.last_any = now
        self.last_seen = {}

    def seen(self, stream: str, now: float) -> None:
        self.last_seen[stream] = now
        self.last_any = now

    def _limit(self, stream: str) -> float:
        return self.quiet_silence_s if stream in self.quiet_streams else self.silence_s

    def silent_streams(self, now: float) -> list[str]:
        """Streams with no message for longer than their threshold (since connect if never)."""
        return [
            s for s in self.streams if now - self.last_seen.get(s, self.started_at) > self._limit(s)
        ]

    def never_fed(self, now: float) -> list[str]:
        """Acknowledged streams that have sent nothing at all since the connection opened."""
        return [
            s
            for s in self.streams
            if s not in self.last_seen and now - self.started_at > self._limit(s)
        ]

    def went_quiet(self, now: float) -> list[str]:
        """Streams that fed, then fell silent past their threshold while others still flow."""
        if now - self.last_any > self.silence_s:
            return []  # the whole connection is silent: that is a dead socket, not one stream
        return [s for s, seen in self.last_seen.items() if now - seen > self._limit(s)]

    def connection_silent(self, now: float) -> bool:
        """Nothing at all for the (non-quiet) threshold: treat the connection as failed."""
        return now - self.last_any > self.silence_s
