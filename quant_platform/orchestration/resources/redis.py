"""Redis as a Dagster resource, with the platform's key layout attached."""

from __future__ import annotations

import redis
from dagster import ConfigurableResource

from quant_platform.storage.redis_keys import RedisKeys


class RedisResource(ConfigurableResource):
    """Client factory for QP_REDIS_URL; `key_layout()` applies QP_REDIS_PREFIX."""

    redis_url: str
    prefix: str = "qp:"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=5, decode_responses=True)

    def key_layout(self) -> RedisKeys:
        return RedisKeys(self.prefix)
