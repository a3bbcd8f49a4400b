"""Redis sinks: per-symbol tick streams and the live analytics cache.

Redis is a cache here, never the system of record (TimescaleDB is): when it is
down, tick batches are dropped and counted, the daemon logs once and retries
with backoff, and nothing upstream waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quant_platform.config import Settings
from quant_platform.domain import Trade
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.redis_keys import RedisKeys

log = logging.getLogger(__name__)
LAST_TTL_S = 60
ANALYTICS_TTL_S = 60


def _client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


class RedisTickSink:
    """Pipelines each batch (XADD per trade, latest-trade hash per symbol, one PUBLISH)."""

    def __init__(self, settings: Settings, metrics: StorageMetrics | None = None,
                 batch_interval_s: float = 0.005, max_batch: int = 2000) -> None:  # fmt: skip
        self.keys = RedisKeys(settings.redis_prefix)
        self.maxlen = settings.redis_stream_maxlen
        self.redis = _client(settings.redis_url)
        self.metrics = metrics or StorageMetrics()
        self.batch_interval_s = batch_interval_s
        self.max_batch = max_batch
        self._pending: list[Trade] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.up = True
        self.written = 0
        self.dropped = 0
        self._retry_at = 0.0
        self._backoff_s = 0.5

    def add(self, trade: Trade) -> None:
        if not self.up and time.monotonic() < self._retry_at:
            self.dropped += 1
            return
        self._pending.append(trade)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-tick-sink")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.batch_interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        pipe = self.redis.pipeline(transaction=False)
        last: dict[str, Trade] = {}
        for t in batch:
            pipe.xadd(self.keys.ticks(t.symbol),
                      {"id": t.trade_id, "p": repr(t.price), "q": repr(t.qty), "T": t.trade_time_ms,
                       "m": int(t.buyer_is_maker), "k": t.kind},
                      maxlen=self.maxlen, approximate=True)  # fmt: skip
            last[t.symbol] = t
        for sym, t in last.items():
            key = self.keys.last_trade(sym)
            pipe.hset(key, mapping={"p": repr(t.price), "q": repr(t.qty), "T": t.trade_time_ms,
                                    "id": t.trade_id, "m": int(t.buyer_is_maker)})  # fmt: skip
            pipe.expire(key, LAST_TTL_S)
        pipe.publish(self.keys.updates_channel, "ticks")
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self.dropped += len(batch)
            self.metrics.redis_rows.labels("dropped").inc(len(batch))
            self._down(exc)
            return
        self.written += len(batch)
        self.metrics.redis_rows.labels("written").inc(len(batch))
        now_ns = time.time_ns()
        observe = self.metrics.sink_latency.labels("redis").observe
        for t in (batch[0], batch[-1]):
            observe((now_ns - t.receive_time_ns) / 1e9)
        if not self.up:
            log.warning("Redis reachable again; %d ticks were not cached while it was down",
                        self.dropped)  # fmt: skip
        self.up = True
        self._backoff_s = 0.5
        self.metrics.redis_up.set(1)

    def _down(self, exc: Exception) -> None:
        if self.up:
            log.error("Redis unreachable (%s): tick cache paused; buffer and database go on", exc)
        self.up = False
        self.metrics.redis_up.set(0)
        self._retry_at = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, 30.0)

    async def publish_health(self, key: str, fields: dict[str, str]) -> None:
        await self.redis.hset(key, mapping=fields)
        await self.redis.expire(key, 120)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self.flush()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()


class RedisAnalyticsCache:
    """Latest live metrics per pair and symbol (JSON, 60 s TTL); raises RedisError when down."""

    def __init__(self, settings: Settings) -> None:
        self.keys = RedisKeys(settings.redis_prefix)
        self.redis = _client(settings.redis_url)

    async def put_pair(self, y: str, x: str, payload: dict[str, Any]) -> None:
        await self.redis.set(self.keys.pair_analytics(y, x), _dumps(payload), ex=ANALYTICS_TTL_S)

    async def put_symbol(self, symbol: str, payload: dict[str, Any]) -> None:
        await self.redis.set(self.keys.symbol_analytics(symbol), _dumps(payload), ex=ANALYTICS_TTL_S)

    async def get_pair(self, y: str, x: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.pair_analytics(y, x))
        return json.loads(raw) if raw else None

    async def get_symbol(self, symbol: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.symbol_analytics(symbol))
        return json.loads(raw) if raw else None

    async def publish(self, kind: str) -> None:
        await self.redis.publish(self.keys.updates_channel, kind)

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()


def _dumps(payload: dict[str, Any]) -> str:
    """JSON with NaN/inf as null: readers in other languages reject bare NaN."""
    clean = {k: (None if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")))
                 else v) for k, v in payload.items()}  # fmt: skip
    return json.dumps(clean)
