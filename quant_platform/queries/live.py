"""Live state from Redis: latest trades, cached analytics, feed health."""

from __future__ import annotations

import json
from typing import Any

import redis

from quant_platform.storage.redis_keys import RedisKeys


def latest_trades(client: redis.Redis, keys: RedisKeys, symbols: list[str]) -> dict[str, dict]:
    """Latest price/qty/time per symbol ({} for a symbol with nothing fresh)."""
    pipe = client.pipeline(transaction=False)
    for s in symbols:
        pipe.hgetall(keys.last_trade(s))
    out = {}
    for s, row in zip(symbols, pipe.execute(), strict=True):
        out[s] = {_s(k): _s(v) for k, v in row.items()} if row else {}
    return out


def feed_health(client: redis.Redis, keys: RedisKeys) -> dict[str, Any]:
    """What the ingestion daemon last reported about its feed (which feed, counters, lag)."""
    row = client.hgetall(keys.feed_health)
    return {_s(k): _s(v) for k, v in row.items()}


def cached_json(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.get(key)
    return json.loads(raw) if raw else None


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
