"""Live state from Redis: latest trades, cached analytics, feed health."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from quant_platform.config.settings import validate_symbol
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


def _with_age(payload: dict[str, Any] | None, now: float | None) -> dict[str, Any] | None:
    """Add `age_s` (seconds since the engine computed it) so the UI can flag stale numbers."""
    if payload is None:
        return None
    try:
        computed = float(payload.get("computed_at"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {**payload, "age_s": None}
    return {**payload, "age_s": max(0.0, (time.time() if now is None else now) - computed)}


def pair_analytics(
    client: redis.Redis, keys: RedisKeys, symbol_y: str, symbol_x: str, now: float | None = None
) -> dict[str, Any] | None:
    """The live engine's cached metrics of one pair plus `age_s`; None when absent or expired."""
    y, x = validate_symbol(symbol_y), validate_symbol(symbol_x)
    return _with_age(cached_json(client, keys.pair_analytics(y, x)), now)


def symbols_analytics(
    client: redis.Redis, keys: RedisKeys, symbols: list[str], now: float | None = None
) -> dict[str, dict[str, Any] | None]:
    """Cached execution metrics per symbol plus `age_s` (None per symbol when absent)."""
    syms = [validate_symbol(s) for s in symbols]
    pipe = client.pipeline(transaction=False)
    for s in syms:
        pipe.get(keys.symbol_analytics(s))
    return {
        s: _with_age(json.loads(raw) if raw else None, now)
        for s, raw in zip(syms, pipe.execute(), strict=True)
    }
