"""Metric snapshots for the engine, read back from the Redis analytics cache.

The daemon feeds `AlertLoop` its in-process snapshot; anything else (a separate
alert process, a replay, a test) can read the same shape from the cache the
live analytics publishes: `{target: {metric: float}}` with pairs as "Y/X".
Entries older than `max_age_s` are left out so a dead analytics loop cannot keep
firing on its last values; JSON nulls (NaN upstream) are left out as missing.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
import redis.asyncio as aioredis

from quant_platform.storage.redis_keys import RedisKeys

log = logging.getLogger(__name__)

MetricSnapshot = dict[str, dict[str, float]]
META_KEYS = frozenset({"computed_at", "compute_ms"})


def metrics_from_payload(payload: Mapping[str, Any]) -> dict[str, float]:
    """Numeric metrics of one cached entry; meta fields, nulls and non-numbers dropped."""
    out: dict[str, float] = {}
    for k, v in payload.items():
        if k in META_KEYS or isinstance(v, bool) or not isinstance(v, int | float):
            continue
        f = float(v)
        if not math.isnan(f):
            out[k] = f
    return out


class RedisSnapshotSource:
    """Async callable returning the latest snapshot for the configured pairs and symbols."""

    def __init__(
        self,
        redis_url: str,
        keys: RedisKeys,
        pairs: Iterable[tuple[str, str]],
        symbols: Iterable[str],
        max_age_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 1.0,
    ) -> None:
        self.keys = keys
        self.max_age_s = float(max_age_s)
        self.clock = clock
        self.targets: list[tuple[str, str]] = [
            (f"{y}/{x}", keys.pair_analytics(y, x)) for y, x in pairs
        ] + [(s, keys.symbol_analytics(s)) for s in symbols]
        self._client = aioredis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        self._down = False

    async def __call__(self) -> MetricSnapshot:
        if not self.targets:
            return {}
        try:
            raws = await self._client.mget([key for _, key in self.targets])
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                log.error("analytics cache unavailable, no alerts evaluated: %s", exc)
            self._down = True
            return {}
        if self._down:
            log.info("analytics cache reachable again")
        self._down = False
        now = self.clock()
        snap: MetricSnapshot = {}
        for (target, _), raw in zip(self.targets, raws, strict=True):
            if not raw:
                continue
            try:
                payload = json.loads(raw)
            except json.JSONDecodeError:
                log.warning("analytics cache entry for %s is not JSON; skipped", target)
                continue
            if not isinstance(payload, dict):
                continue
            at = payload.get("computed_at")
            if isinstance(at, int | float) and now - float(at) > self.max_age_s:
                continue  # stale
            snap[target] = metrics_from_payload(payload)
        return snap

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except (redis.RedisError, OSError):
            pass

    @classmethod
    def from_settings(cls, settings: Any) -> RedisSnapshotSource:
        """Pairs and symbols as configured; stale after three analytics intervals (>= 15 s)."""
        return cls(
            settings.redis_url,
            RedisKeys(settings.redis_prefix),
            settings.pair_list,
            settings.symbols,
            max_age_s=max(15.0, 3 * settings.analytics_interval_s),
        )
