"""Fired alerts onto the Redis alerts stream: the daemon's async writer and a sync one.

The dispatch sensor and the dashboard read one stream for daemon and Dagster
events alike; both writers use `stream_fields`, so the layout is written once.
Redis being down never stops alerting: the event is in the table; the failure
is logged once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

import redis
import redis.asyncio as aioredis

from quant_platform.domain.alert import AlertEvent, json_safe
from quant_platform.storage.redis_keys import RedisKeys

log = logging.getLogger(__name__)
STREAM_MAXLEN = 10_000


def stream_fields(event_id: int | None, e: AlertEvent) -> dict[str, str]:
    """Flat string fields of one entry (id "" when the database did not give one)."""
    return {
        "id": "" if event_id is None else str(event_id),
        "time": e.time_dt.isoformat(),
        "rule_name": e.rule_name,
        "kind": e.kind.value,
        "target": e.target,
        "severity": e.severity.value,
        "message": e.message,
        "metrics": json.dumps(json_safe(e.metrics)),
        "source": e.source,
    }


class AlertStream:
    """XADD (approximate MAXLEN) + PUBLISH "alerts" on the updates channel."""

    def __init__(
        self, redis_url: str, keys: RedisKeys, maxlen: int = STREAM_MAXLEN, timeout_s: float = 1.0
    ) -> None:
        self.redis_url = redis_url
        self.keys = keys
        self.maxlen = maxlen
        self.timeout_s = timeout_s
        self._client: aioredis.Redis | None = None
        self._down = False
        self.retry_s = 2.0  # while Redis is down, try it at most this often
        self._next_try = 0.0

    def _get_client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.redis_url,
                decode_responses=True,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
            )
        return self._client

    async def append(self, items: Iterable[tuple[int | None, AlertEvent]]) -> list[str]:
        """Stream ids of the new entries; [] when Redis is unreachable."""
        items = list(items)
        if not items:
            return []
        if self._down and time.monotonic() < self._next_try:
            return []  # known down: do not wait on a socket timeout every cycle
        try:
            pipe = self._get_client().pipeline(transaction=False)
            for event_id, e in items:
                pipe.xadd(
                    self.keys.alerts_stream,
                    stream_fields(event_id, e),
                    maxlen=self.maxlen,
                    approximate=True,
                )
            pipe.publish(self.keys.updates_channel, "alerts")
            res = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                log.error("alerts stream unavailable, events only in the table: %s", exc)
            self._down = True
            self._next_try = time.monotonic() + self.retry_s
            await self.aclose()  # a fresh connection next time
            return []
        if self._down:
            log.info("alerts stream reachable again")
        self._down = False
        return [str(r) for r in res[:-1]]

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except Exception:  # closing a broken connection
                pass


def append_sync(
    client: redis.Redis,
    keys: RedisKeys,
    items: Iterable[tuple[int | None, AlertEvent]],
    maxlen: int = STREAM_MAXLEN,
) -> list[str]:
    """The same entries from synchronous code (Dagster sensors, CLI); raises RedisError."""
    items = list(items)
    if not items:
        return []
    pipe = client.pipeline(transaction=False)
    for event_id, e in items:
        pipe.xadd(keys.alerts_stream, stream_fields(event_id, e), maxlen=maxlen, approximate=True)
    pipe.publish(keys.updates_channel, "alerts")
    res = pipe.execute()
    return [r.decode() if isinstance(r, bytes) else str(r) for r in res[:-1]]
