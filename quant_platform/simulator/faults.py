"""Fault injection for the simulator: what the venue (or the network) does to a client.

Faults apply per connection, so a test can watch one client suffer them:
drops (every N s or after N data messages), stalls (silence, then the
backlog), ack-then-silent streams, streams that feed and then go quiet (until
the client subscribes to them again), malformed/duplicate/out-of-order frames,
and blackouts (frames the venue published but this client never gets: a hole
in the stream that only a REST backfill can fill).
Malformed frames are extra noise (the real trade is still sent); duplicates
resend a trade; out-of-order holds a frame back behind the next one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MALFORMED_FRAMES = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,',  # truncated
    "not json at all",
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":"x","T":1,"s":"BTCUSDT","t":"1",'
    '"p":1,"q":null,"m":"yes"}}',  # wrong types
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,'
    '"p":"-5","q":"0","X":"MARKET","m":true}}',  # impossible values
    "[]",
)


@dataclass
class FaultConfig:
    """All off by default. Ratios are per data frame in [0, 1]."""

    drop_every_s: float | None = None
    drop_after_n: int | None = None
    stall_s: float = 0.0
    stall_every_s: float = 10.0
    silent_streams: frozenset[str] = frozenset()
    mute_streams: frozenset[str] = frozenset()  # go quiet `mute_after_s` after connect
    mute_after_s: float = 2.0
    malformed_ratio: float = 0.0
    duplicate_ratio: float = 0.0
    out_of_order_ratio: float = 0.0
    blackout_after_n: int | None = None
    blackout_frames: int = 0

    def __post_init__(self) -> None:
        for name in ("malformed_ratio", "duplicate_ratio", "out_of_order_ratio"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.drop_every_s is not None and self.drop_every_s <= 0:
            raise ValueError("drop_every_s must be > 0")
        if self.drop_after_n is not None and self.drop_after_n < 1:
            raise ValueError("drop_after_n must be >= 1")
        if self.blackout_frames < 0 or (
            self.blackout_after_n is not None and self.blackout_after_n < 0
        ):
            raise ValueError("blackout_after_n and blackout_frames must be >= 0")
        if self.stall_s < 0 or self.stall_every_s <= 0:
            raise ValueError("stall_s must be >= 0 and stall_every_s > 0")
        if self.mute_after_s < 0:
            raise ValueError("mute_after_s must be >= 0")
        self.silent_streams = frozenset(s.lower() for s in self.silent_streams)
        self.mute_streams = frozenset(s.lower() for s in self.mute_streams)

    @property
    def any_frame_faults(self) -> bool:
        return bool(self.malformed_ratio or self.duplicate_ratio or self.out_of_order_ratio)

    @property
    def any_connection_faults(self) -> bool:
        """Anything the sender must check per frame (drops, stalls, mutes, blackouts, frames)."""
        return bool(
            self.any_frame_faults
            or self.drop_every_s is not None
            or self.drop_after_n is not None
            or self.stall_s
            or self.mute_streams
            or (self.blackout_after_n is not None and self.blackout_frames)
        )


@dataclass
class FaultState:
    """One connection's fault bookkeeping; `rng` is seeded per connection for reproducibility."""

    cfg: FaultConfig
    opened_at: float
    rng: random.Random = field(default_factory=random.Random)
    sent: int = 0
    held: str | None = None
    malformed: int = 0
    duplicated: int = 0
    reordered: int = 0
    seen: int = 0  # data frames offered to this connection (sent or blacked out)
    blacked_out: int = 0

    def should_drop(self, now: float) -> bool:
        c = self.cfg
        if c.drop_after_n is not None and self.sent >= c.drop_after_n:
            return True
        return c.drop_every_s is not None and now - self.opened_at >= c.drop_every_s

    def stall_until(self, now: float) -> float | None:
        """If the connection is inside a stall window, when it ends."""
        c = self.cfg
        if c.stall_s <= 0:
            return None
        age = now - self.opened_at
        period = c.stall_every_s + c.stall_s
        phase = age % period
        if phase >= c.stall_every_s:
            return now + (period - phase)
        return None

    def apply(self, frame: str) -> list[str]:
        """The frames to send in place of `frame` (possibly none, if held back)."""
        c = self.cfg
        self.seen += 1
        if (
            c.blackout_after_n is not None
            and self.seen > c.blackout_after_n
            and self.blacked_out < c.blackout_frames
        ):
            self.blacked_out += 1
            return []
        if not c.any_frame_faults:
            return [frame]
        out: list[str] = []
        r = self.rng
        if c.malformed_ratio and r.random() < c.malformed_ratio:
            out.append(r.choice(MALFORMED_FRAMES))
            self.malformed += 1
        if self.held is None and c.out_of_order_ratio and r.random() < c.out_of_order_ratio:
            self.held = frame
            self.reordered += 1
            return out
        out.append(frame)
        if self.held is not None:
            out.append(self.held)
            self.held = None
        if c.duplicate_ratio and r.random() < c.duplicate_ratio:
            out.append(frame)
            self.duplicated += 1
        return out

    def flush(self) -> list[str]:
        """A held-back frame still owed (sent before a drop or at the end)."""
        if self.held is None:
            return []
        frame, self.held = self.held, None
        return [frame]
