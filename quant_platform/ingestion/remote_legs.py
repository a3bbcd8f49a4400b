"""Remote legs: a shard's live bars for symbols another shard ingests, read from Redis.

With `qp ingest --shard I/N` a pair belongs to the shard that owns its first leg
(config/sharding.py). Its other leg may be ingested by another daemon, which
already writes every accepted trade to `{prefix}ticks:{SYMBOL}` (XADD, fields
id, p, q, T, m) in the order it hands them to its own live bars. This reader
follows those streams with one blocking XREAD and feeds each entry to
`LiveAnalytics.on_trade`, so the pair's shard builds the remote leg's 1-second
bars from the very trades its owner used: no second exchange subscription, no
new key, nothing to publish on the owning side.

On start (and after a restart) it reads from the stream ID at now minus the
analytics window, so the remote leg's recent history comes back at once as far
as the stream's MAXLEN holds it. A lagging or silent owner is never papered over:
the reader only ever adds trades it read; the cycle measures how far the remote
leg trails (`remote_lag_s`) and marks the pair stale, and `status()` feeds
/health.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import redis_client

log = logging.getLogger(__name__)
OnTrade = Callable[[str, int, float, float, bool], None]
_ERRORS = (RedisError, OSError, TimeoutError, ValueError)


@dataclass
class LegState:
    """What the reader has seen of one remote symbol's stream."""

    last_id: str
    entries: int = 0
    last_trade_ms: int | None = None
    last_read: float | None = None  # wall clock of the newest entry read


class RemoteLegReader:
    """Follows other shards' tick streams for this daemon's remote legs."""

    def __init__(
        self,
        redis_url: str,
        keys: RedisKeys,
        symbols: tuple[str, ...],
        on_trade: OnTrade,
        history_s: float,
        block_ms: int = 1000,
        count: int = 5000,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.keys = keys
        self.on_trade = on_trade
        self.block_ms = block_ms
        self.count = count
        self.redis = client if client is not None else redis_client(redis_url)
        start = f"{max(0, int((time.time() - history_s) * 1000))}-0"
        self.legs = {s: LegState(last_id=start) for s in symbols}
        self._key_to_symbol = {keys.ticks(s): s for s in symbols}
        self.started = time.time()
        self.up = True
        self.bad_entries = 0

    async def read_once(self) -> int:
        """One XREAD over every remote stream (blocks up to `block_ms`); entries applied.

        Raises:
            redis.RedisError, OSError, TimeoutError: Redis is unreachable.
        """
        streams = {self.keys.ticks(s): st.last_id for s, st in self.legs.items()}
        reply = await self.redis.xread(streams, count=self.count, block=self.block_ms)
        n = 0
        for key, entries in reply or []:
            name = key.decode() if isinstance(key, bytes) else str(key)
            symbol = self._key_to_symbol[name]
            n += self._apply(symbol, entries)
        return n

    def _apply(self, symbol: str, entries: list[tuple[Any, dict[Any, Any]]]) -> int:
        st = self.legs[symbol]
        for entry_id, fields in entries:
            st.last_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            try:
                t_ms = int(fields[b"T"])
                self.on_trade(
                    symbol, t_ms, float(fields[b"p"]), float(fields[b"q"]), fields[b"m"] == b"1"
                )
            except (KeyError, ValueError) as exc:  # not written by our sink: skip, count
                self.bad_entries += 1
                log.debug("remote %s entry %s skipped: %r", symbol, st.last_id, exc)
                continue
            st.entries += 1
            st.last_trade_ms = t_ms
        if entries:
            st.last_read = time.time()
        return len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Read until `stop`. Redis down: logged once, retried every second; the cycle
        meanwhile marks the remote pairs stale as their legs fall behind."""
        while not stop.is_set():
            try:
                await self.read_once()
            except _ERRORS as exc:
                if self.up:
                    log.warning("remote legs not read from Redis (retrying): %s", exc)
                self.up = False
                await asyncio.sleep(1.0)
                continue
            if not self.up:
                log.info("remote legs read from Redis again")
            self.up = True

    def status(self, stale_s: float, now: float | None = None) -> dict[str, dict[str, Any]]:
        """Per remote symbol: entries read, seconds since the newest one, stale flag."""
        now = time.time() if now is None else now
        out = {}
        for s, st in self.legs.items():
            since = now - (st.last_read if st.last_read is not None else self.started)
            out[s] = {
                "entries": st.entries,
                "last_trade_ms": st.last_trade_ms,
                "read_age_s": round(since, 1),
                "stale": since > stale_s,
            }
        return out

    def problems(self, stale_s: float) -> list[str]:
        """Health problems: Redis unreachable, or remote streams silent past `stale_s`."""
        silent = [s for s, v in self.status(stale_s).items() if v["stale"]]
        out = [] if self.up else ["remote legs: Redis unreachable"]
        if silent:
            out.append(f"remote legs silent for over {stale_s:.0f} s: {', '.join(silent)}")
        return out

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except _ERRORS:
            pass
