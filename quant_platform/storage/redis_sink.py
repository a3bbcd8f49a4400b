"""Redis sinks: per-symbol tick streams and the live analytics cache.

Redis is a cache here, never the system of record (TimescaleDB is): when it is
down, tick batches are dropped and counted, one warning is logged, a PING
probe retries with backoff, and nothing upstream waits for it or sees an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

from quant_platform.config import Settings
from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics, storage_metrics
from quant_platform.storage.redis_keys import RedisKeys

log = logging.getLogger(__name__)
LAST_TTL_S = 60
ANALYTICS_TTL_S = 60
_ERRORS = (RedisError, OSError, TimeoutError)

# One call appends a batch of one symbol's ticks: the same `XADD key MAXLEN ~ n * id .. p ..
# q .. T .. m ..` per trade as a client-side pipeline would send, each trade one ARGV
# "id p q T m" (tick_fields), so an entry reads exactly as before.
XADD_LUA = """
local key, maxlen = KEYS[1], ARGV[1]
for i = 2, #ARGV do
  local id, p, q, t, m = string.match(ARGV[i], "^(%S+) (%S+) (%S+) (%S+) (%S+)$")
  redis.call("XADD", key, "MAXLEN", "~", maxlen, "*", "id", id, "p", p, "q", q, "T", t, "m", m)
end
return #ARGV - 1
"""


def tick_fields(t: Trade) -> str:
    """A trade as XADD_LUA's argument: the field values redis-py would send (repr of numbers)."""
    return f"{t.trade_id} {t.price!r} {t.qty!r} {t.trade_time_ms} {1 if t.buyer_is_maker else 0}"


def redis_client(url: str, timeout_s: float = 2.0) -> aioredis.Redis:
    """An asyncio client whose calls fail within `timeout_s` when the server is gone.

    One quick retry (a pooled socket that died with a Redis restart), not
    redis-py's default of several with backoff: the sinks back off themselves.
    """
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
    )


class RedisTickSink:
    """Batches trades into pipelined writes: no round trip per trade.

    Per batch (every `batch_interval_s`, or at once when `max_batch` trades
    wait): `XADD ticks:{SYM} MAXLEN ~ maxlen` per trade with fields id, p, q,
    T, m; `HSET last:{SYM}` + `EXPIRE 60` per symbol; one `PUBLISH updates`.
    `add` never blocks or raises; at most `max_pending` trades wait in memory.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: StorageMetrics | None = None,
        batch_interval_s: float = 0.005,
        max_batch: int = 2000,
        max_pending: int = 100_000,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 5.0,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.keys = RedisKeys(settings.redis_prefix)
        self.maxlen = settings.redis_stream_maxlen
        self.redis = client if client is not None else redis_client(settings.redis_url)
        self.metrics = metrics if metrics is not None else storage_metrics()
        self.batch_interval_s = batch_interval_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._pending: list[Trade] = []
        self._sha: str | None = None  # XADD_LUA's digest once loaded
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.up = True
        self.written = 0
        self.dropped = 0
        self.batches = 0
        self.last_batch_s = 0.0
        self._down_since = 0.0
        self._dropped_at_down = 0
        self._retry_at = 0.0
        self._backoff_s = backoff_base_s
        self._written = self.metrics.redis_rows.labels("written")
        self._dropped = self.metrics.redis_rows.labels("dropped")
        self._latency = self.metrics.sink_latency.labels("redis")
        self.metrics.redis_up.set(1)

    @property
    def redis_dropped(self) -> int:
        """Trades not cached because Redis was down (the database still got them)."""
        return self.dropped

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- hot path ---------------------------------------------------------------------
    def add(self, trade: Trade) -> None:
        """Queue one trade for the next batch; O(1), never raises."""
        if not self.up or len(self._pending) >= self.max_pending:
            self.dropped += 1
            self._dropped.inc()
            return
        self._pending.append(trade)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="redis-tick-sink")

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.batch_interval_s)
            self._wake.clear()
            if self._closing:
                return
            try:
                if self.up:
                    await self.flush()
                elif time.monotonic() >= self._retry_at:
                    await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the cache for the daemon's lifetime
                log.exception("Redis tick sink: unexpected error, batch dropped: %r", exc)
                await asyncio.sleep(self.batch_interval_s)

    async def flush(self) -> None:
        """Write everything pending in one pipeline; on failure drop it and go down.

        One `EVALSHA` per symbol carries the whole batch (XADD_LUA): the XADDs are
        the same, but the client packs one argument per trade and parses one
        reply per symbol, instead of ~13 arguments and one reply per trade
        (bench/bench_scale_up.py profile: per-trade XADD packing and reply parsing
        were the daemon's largest cost at 20,000 trades/s).
        """
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        t0 = time.perf_counter()
        try:
            await self._write(batch)
        except NoScriptError:  # Redis restarted or SCRIPT FLUSH: load it again, once
            try:
                self._sha = None
                await self._write(batch)
            except _ERRORS as exc:
                self._down(exc, len(batch))
                return
        except _ERRORS as exc:
            self._down(exc, len(batch))
            return
        self.last_batch_s = time.perf_counter() - t0
        self.batches += 1
        self.written += len(batch)
        self._written.inc(len(batch))
        now_ns = time.time_ns()
        for t in (batch[0], batch[-1]):  # oldest and newest of the batch bound the rest
            self._latency.observe((now_ns - t.receive_time_ns) / 1e9)

    async def _write(self, batch: list[Trade]) -> None:
        """One pipeline: XADD_LUA per symbol, `HSET last:{SYM}` + EXPIRE, one PUBLISH.

        Raises:
            NoScriptError: the server does not know the script (caller reloads, retries).
            RedisError, OSError, TimeoutError: Redis is unreachable or refused the write.
        """
        if self._sha is None:
            self._sha = await self.redis.script_load(XADD_LUA)
        keys = self.keys
        rows: dict[str, list[str]] = {}
        last: dict[str, Trade] = {}
        for t in batch:
            r = rows.get(t.symbol)
            if r is None:
                r = rows[t.symbol] = []
            r.append(tick_fields(t))
            last[t.symbol] = t
        pipe = self.redis.pipeline(transaction=False)
        for sym, r in rows.items():
            pipe.evalsha(self._sha, 1, keys.ticks(sym), self.maxlen, *r)
        for sym, t in last.items():
            key = keys.last_trade(sym)
            pipe.hset(
                key,
                mapping={
                    "p": t.price,
                    "q": t.qty,
                    "T": t.trade_time_ms,
                    "id": t.trade_id,
                    "m": 1 if t.buyer_is_maker else 0,
                },
            )
            pipe.expire(key, LAST_TTL_S)
        pipe.publish(keys.updates_channel, "ticks")
        await pipe.execute()

    async def _probe(self) -> None:
        try:
            await self.redis.ping()
        except _ERRORS:
            self._retry_at = time.monotonic() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.backoff_cap_s)
            return
        log.info(
            "Redis reachable again after %.1f s: tick cache resumed (%d ticks not cached)",
            time.monotonic() - self._down_since,
            self.dropped - self._dropped_at_down,
        )
        self.up = True
        self._backoff_s = self.backoff_base_s
        self.metrics.redis_up.set(1)

    def _down(self, exc: BaseException, lost: int) -> None:
        if self.up:
            log.warning(
                "Redis unreachable (%s): tick cache paused, retrying with backoff; "
                "the tick buffer and the database carry on",
                exc or type(exc).__name__,
            )
            self._down_since = time.monotonic()
            self._dropped_at_down = self.dropped
        self.up = False
        self.metrics.redis_up.set(0)
        # the failed batch, and trades queued while the pipeline was failing, are dropped
        lost += len(self._pending)
        self._pending = []
        self.dropped += lost
        self._dropped.inc(lost)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.backoff_cap_s)

    async def publish_health(self, key: str, fields: dict[str, str], ttl_s: int = 120) -> None:
        """Refresh a health hash; raises RedisError/OSError when Redis is down."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, ttl_s)
        await pipe.execute()

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop the batch task, write what is pending if Redis is up, close the client.

        A pipeline in flight is let finish (up to `timeout_s`): cancelling it mid-write
        would lose its whole batch, already taken off `_pending`.
        """
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.up:
            with contextlib.suppress(Exception):
                await self.flush()
        with contextlib.suppress(Exception):
            await self.redis.aclose()


class RedisAnalyticsCache:
    """Latest live metrics per pair and per symbol: JSON values with a 60 s TTL.

    Every method raises redis.RedisError (or OSError) when Redis is down: the
    caller decides whether a missed cache write matters.
    """

    def __init__(
        self, settings: Settings, client: aioredis.Redis | None = None, ttl_s: int = ANALYTICS_TTL_S
    ) -> None:
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = client if client is not None else redis_client(settings.redis_url)
        self.ttl_s = ttl_s

    async def put_pair(self, y: str, x: str, payload: dict[str, Any]) -> None:
        await self.redis.set(self.keys.pair_analytics(y, x), dumps(payload), ex=self.ttl_s)

    async def put_symbol(self, symbol: str, payload: dict[str, Any]) -> None:
        await self.redis.set(self.keys.symbol_analytics(symbol), dumps(payload), ex=self.ttl_s)

    async def get_pair(self, y: str, x: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.pair_analytics(y, x))
        return json.loads(raw) if raw else None

    async def get_symbol(self, symbol: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.symbol_analytics(symbol))
        return json.loads(raw) if raw else None

    async def promoted_pairs(self) -> list[tuple[str, str]]:
        """Pairs promoted from the screener (`live:pairs`), malformed members ignored."""
        members = await self.redis.smembers(self.keys.live_pairs)
        out = []
        for m in sorted(v.decode() if isinstance(v, bytes) else str(v) for v in members):
            y, sep, x = m.partition("/")
            if sep and y and x and y != x:
                out.append((y, x))
        return out

    async def publish(self, kind: str) -> int:
        """Announce fresh data on the updates channel; returns the number of subscribers."""
        return int(await self.redis.publish(self.keys.updates_channel, kind))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and hasattr(v, "dtype"):  # numpy scalar or 0-d array
        return _clean(v.item()) if getattr(v, "ndim", 0) == 0 else _clean(v.tolist())
    if hasattr(v, "tolist"):
        return _clean(v.tolist())
    return v


def dumps(payload: dict[str, Any]) -> str:
    """JSON with NaN/inf as null (other languages reject bare NaN) and numpy values as Python."""
    return json.dumps(_clean(payload), default=str, allow_nan=False)
