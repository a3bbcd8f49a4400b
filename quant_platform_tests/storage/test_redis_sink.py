"""Redis sinks against a real Redis: streams, TTLs, one PUBLISH per batch, outages."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import redis as redis_lib
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from quant_platform.config import Settings, load_settings
from quant_platform.domain import Trade
from quant_platform.services.local import LocalRedis
from quant_platform.storage.metrics import StorageMetrics
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import RedisAnalyticsCache, RedisTickSink
from quant_platform_tests.storage.trade_rows import T0, trades


def _s(v: bytes) -> str:
    return v.decode()


def test_stream_entries_are_the_trades_with_ttl_and_one_publish_per_batch(
    settings: Settings, redis_url: str
) -> None:
    keys = RedisKeys(settings.redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)
    reg = CollectorRegistry()

    async def run() -> tuple[RedisTickSink, list[bytes]]:
        sub = aioredis.Redis.from_url(redis_url)
        pubsub = sub.pubsub()
        await pubsub.subscribe(keys.updates_channel)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        sink = RedisTickSink(settings, StorageMetrics(reg), batch_interval_s=0.05)
        await sink.start()
        for t in trades(300) + trades(50, symbol="ETHUSDT"):
            sink.add(t)  # one batch: within one interval, under max_batch
        await asyncio.sleep(0.3)
        got = []
        while (msg := await pubsub.get_message(timeout=0.2)) is not None:
            got.append(msg["data"])
        await sink.close()
        await pubsub.aclose()
        await sub.aclose()
        return sink, got

    sink, published = asyncio.run(run())
    assert sink.written == 350 and sink.dropped == 0 and sink.up
    assert published == [b"ticks"] and sink.batches == 1
    entries = client.xrange(keys.ticks("BTCUSDT"))
    assert len(entries) == 300 and client.xlen(keys.ticks("ETHUSDT")) == 50
    sent = trades(300)
    for (_, fields), t in zip(entries, sent, strict=True):
        f = {_s(k): _s(v) for k, v in fields.items()}
        assert set(f) == {"id", "p", "q", "T", "m"}
        assert int(f["id"]) == t.trade_id and float(f["p"]) == t.price
        assert float(f["q"]) == t.qty and int(f["T"]) == t.trade_time_ms
        assert f["m"] == str(int(t.buyer_is_maker))
    last = {_s(k): _s(v) for k, v in client.hgetall(keys.last_trade("BTCUSDT")).items()}
    assert int(last["id"]) == 300 and float(last["p"]) == sent[-1].price
    assert 0 < client.ttl(keys.last_trade("BTCUSDT")) <= 60
    assert 0 < client.ttl(keys.last_trade("ETHUSDT")) <= 60
    assert reg.get_sample_value("qp_redis_sink_rows_total", {"outcome": "written"}) == 350
    assert reg.get_sample_value("qp_sink_latency_seconds_count", {"sink": "redis"}) == 2


def test_batched_entries_read_byte_for_byte_as_a_plain_xadd_and_survive_a_lost_script(
    settings: Settings, redis_url: str
) -> None:
    """The one-call-per-symbol write stores what `XADD` from redis-py would (field
    strings included: awkward floats, both maker flags, a large id); a server that
    forgot the script (restart, SCRIPT FLUSH) gets it loaded again, no batch lost."""
    keys = RedisKeys(settings.redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)
    odd = [
        Trade("BTCUSDT", 2**62 + 1, 0.1 + 0.2, 1e-08, T0, T0, True, time.time_ns()),
        Trade("BTCUSDT", 2**62 + 2, 123456789.125, 3.0, T0 + 1, T0 + 1, False, time.time_ns()),
        Trade("BTCUSDT", 2**62 + 3, 6.02e23, 1.5e-05, T0 + 2, T0 + 2, True, time.time_ns()),
    ]
    reference = settings.redis_prefix + "reference"
    for t in odd:  # what the per-trade pipeline stored before
        client.xadd(
            reference,
            {
                "id": t.trade_id,
                "p": t.price,
                "q": t.qty,
                "T": t.trade_time_ms,
                "m": 1 if t.buyer_is_maker else 0,
            },
        )

    async def run() -> RedisTickSink:
        sink = RedisTickSink(settings, batch_interval_s=0.02)
        await sink.start()
        for t in odd[:2]:
            sink.add(t)
        await asyncio.sleep(0.3)
        sink._sha = "0" * 40  # noqa: SLF001 - a digest the server does not know
        sink.add(odd[2])
        await asyncio.sleep(0.3)
        await sink.close()
        return sink

    sink = asyncio.run(run())
    assert sink.written == 3 and sink.dropped == 0 and sink.up
    got = [fields for _, fields in client.xrange(keys.ticks("BTCUSDT"))]
    want = [fields for _, fields in client.xrange(reference)]
    assert got == want and len(got) == 3


def test_streams_are_trimmed_near_maxlen(settings: Settings, redis_url: str) -> None:
    s = settings.model_copy(update={"redis_stream_maxlen": 100})
    keys = RedisKeys(s.redis_prefix)

    async def run() -> RedisTickSink:
        sink = RedisTickSink(s, max_batch=500)
        await sink.start()
        for t in trades(3000):
            sink.add(t)
        await asyncio.sleep(0)  # the batch task takes the first batch and is mid-write...
        await sink.close()  # ...which close lets finish, then writes the rest
        return sink

    sink = asyncio.run(run())
    assert sink.written == 3000 and sink.dropped == 0
    n = redis_lib.Redis.from_url(redis_url).xlen(keys.ticks("BTCUSDT"))
    assert 100 <= n < 500  # approximate trimming keeps about maxlen


def test_redis_outage_is_logged_once_counted_and_recovered(
    ephemeral_redis: LocalRedis,
    redis_prefix: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = load_settings(redis_url=ephemeral_redis.url, redis_prefix=redis_prefix, data_dir=tmp_path)
    keys = RedisKeys(redis_prefix)
    client = redis_lib.Redis.from_url(ephemeral_redis.url)

    async def run() -> RedisTickSink:
        sink = RedisTickSink(s, batch_interval_s=0.01, backoff_cap_s=0.5)
        await sink.start()
        for t in trades(300):
            sink.add(t)
        await asyncio.sleep(0.2)
        assert client.xlen(keys.ticks("BTCUSDT")) == 300
        await asyncio.to_thread(ephemeral_redis.stop)
        n = 301
        for _ in range(20):  # half a second of trades against a dead Redis
            for t in trades(10, start=n):
                t0 = time.perf_counter()
                sink.add(t)  # never raises, never blocks
                assert time.perf_counter() - t0 < 0.01
            n += 10
            await asyncio.sleep(0.025)
        assert not sink.up and sink.redis_dropped > 0
        await asyncio.to_thread(ephemeral_redis.start)
        deadline = time.monotonic() + 10
        while not sink.up and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sink.up
        for t in trades(100, start=10_001):
            sink.add(t)
        await asyncio.sleep(0.2)
        await sink.close()
        return sink

    with caplog.at_level(logging.INFO, logger="quant_platform.storage.redis_sink"):
        sink = asyncio.run(run())
    assert sink.written == 400
    assert sink.dropped == 200 + 0  # every trade added while down was dropped and counted
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING
    assert len(back) == 1
    entries = client.xrange(keys.ticks("BTCUSDT"), min="-", max="+")
    assert int(entries[-1][1][b"id"]) == 10_100  # new trades flow again after the outage


def test_analytics_cache_round_trip_with_ttl(settings: Settings, redis_url: str) -> None:
    keys = RedisKeys(settings.redis_prefix)
    client = redis_lib.Redis.from_url(redis_url)

    async def run() -> tuple[dict | None, dict | None, dict | None, int]:
        cache = RedisAnalyticsCache(settings)
        await cache.put_pair(
            "BTCUSDT",
            "ETHUSDT",
            {
                "zscore": np.float64(1.5),
                "beta": 0.25,
                "adf_p": float("nan"),
                "n": np.int64(300),
                "window": {"lo": float("inf"), "xs": np.array([1.0, 2.0])},
            },
        )
        await cache.put_symbol("BTCUSDT", {"vwap": 60000.5, "trend": "up"})
        pair = await cache.get_pair("BTCUSDT", "ETHUSDT")
        sym = await cache.get_symbol("BTCUSDT")
        missing = await cache.get_symbol("SOLUSDT")
        receivers = await cache.publish("analytics")
        await cache.close()
        return pair, sym, missing, receivers

    pair, sym, missing, receivers = asyncio.run(run())
    assert pair == {
        "zscore": 1.5,
        "beta": 0.25,
        "adf_p": None,
        "n": 300,
        "window": {"lo": None, "xs": [1.0, 2.0]},
    }
    assert sym == {"vwap": 60000.5, "trend": "up"} and missing is None
    assert receivers == 0
    assert 0 < client.ttl(keys.pair_analytics("BTCUSDT", "ETHUSDT")) <= 60
    assert 0 < client.ttl(keys.symbol_analytics("BTCUSDT")) <= 60
    assert json.loads(client.get(keys.symbol_analytics("BTCUSDT")))["trend"] == "up"
