"""`qp screen` on seeded bars in the real database; promotion reaches the live analytics."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import psycopg
import pytest
import redis

from quant_platform.cli.main import main
from quant_platform.config import Settings, get_settings, load_settings
from quant_platform.ingestion.live_analytics import LiveAnalytics
from quant_platform.queries.research import LivePairs, load_screen, parse_duration
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform.storage.redis_sink import RedisAnalyticsCache
from quant_platform_tests.research.research_seed import PLANTED, seed_universe


@pytest.fixture()
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, request) -> Settings:
    """`qp` reads the process settings: point them at the session database and Redis prefix."""
    monkeypatch.setenv("QP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("QP_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("QP_REDIS_PREFIX", settings.redis_prefix)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    return settings


def test_screen_json_ranks_planted_pair_first_and_stores_it(
    db: psycopg.Connection, cli_env: Settings, capsys: pytest.CaptureFixture
) -> None:
    seed_universe(db)
    symbols = "BTCUSDT,ETHUSDT,BNBUSDT,SOLUSDT,DOGEUSDT"
    code = main(
        ["screen", "--symbols", symbols, "--lookback", "1d", "--min-quote-volume", "50", "--json"]
    )
    assert code == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert len(lines) == 6  # DOGE is below the liquidity floor: 4 symbols, 6 pairs
    first = lines[0]
    assert (first["symbol_y"], first["symbol_x"]) == PLANTED
    assert first["qvalue"] <= 0.05 and first["pvalue"] <= first["qvalue"]
    assert first["hedge_ratio"] == pytest.approx(1.3, abs=0.1)
    assert all("DOGEUSDT" not in (r["symbol_y"], r["symbol_x"]) for r in lines)
    assert [r["rank"] for r in lines] == [1, 2, 3, 4, 5, 6]
    stored = load_screen(db)
    assert stored["screen_id"].iloc[0].startswith("cli-") and len(stored) == 6
    assert tuple(stored.iloc[0][["symbol_y", "symbol_x"]]) == PLANTED
    code = main(["screen", "--symbols", symbols, "--lookback", "1d", "--no-save"])
    out = capsys.readouterr().out
    assert "1 pair(s) at q <= 0.05" in out or "pair(s) at q <= 0.05" in out
    assert "ETHUSDT/BTCUSDT" in out.splitlines()[2] or "ETHUSDT/BTCUSDT" in out


def test_screen_bad_flags_are_clear_errors(cli_env: Settings, capsys) -> None:
    assert main(["screen", "--lookback", "seven days"]) == 2
    assert "--lookback" in capsys.readouterr().err
    assert main(["screen", "--timeframe", "minute"]) == 2
    assert "--timeframe" in capsys.readouterr().err
    assert main(["promote", "ETHUSDT"]) == 2
    assert parse_duration("90m").total_seconds() == 5400


def test_promoted_pair_is_computed_by_the_running_live_analytics(
    db: psycopg.Connection, settings: Settings, redis_url: str
) -> None:
    s = load_settings(
        database_url=settings.database_url,
        redis_url=redis_url,
        redis_prefix=settings.redis_prefix,
        symbols="BTCUSDT,ETHUSDT,SOLUSDT",
        pairs="ETHUSDT/BTCUSDT",
        analytics_interval_s=0.2,
        analytics_worker="thread",  # no worker-process start-up inside the 0.5 s first look
        data_dir=settings.data_dir,
    )
    live = LivePairs(s.database_url, s.redis_url, s.redis_prefix)
    rng = np.random.default_rng(3)
    now_ms = int(time.time() * 1000)

    async def scenario() -> dict:
        cache = RedisAnalyticsCache(s)
        engine = LiveAnalytics(s, cache=cache)
        prices = {"BTCUSDT": 40_000.0, "ETHUSDT": 2_000.0, "SOLUSDT": 150.0}
        for i in range(600):
            for sym in prices:
                prices[sym] *= float(np.exp(rng.normal(0, 1e-3)))
                engine.on_trade(sym, now_ms - (600 - i) * 1000, prices[sym], 1.0, False)
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        await asyncio.sleep(0.5)
        before = set(engine.snapshot)
        live.promote("SOLUSDT", "BTCUSDT", added_by="test")
        deadline = time.monotonic() + 5
        while "SOLUSDT/BTCUSDT" not in engine.snapshot and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        after = set(engine.snapshot)
        cached = await cache.get_pair("SOLUSDT", "BTCUSDT")
        stop.set()
        await task
        await cache.close()
        return {"before": before, "after": after, "cached": cached}

    try:
        out = asyncio.run(scenario())
    finally:
        listed = live.list()
        live.close()
    assert "ETHUSDT/BTCUSDT" in out["before"] and "SOLUSDT/BTCUSDT" not in out["before"]
    assert "SOLUSDT/BTCUSDT" in out["after"]
    assert out["cached"] is not None and "hedge_ratio" in out["cached"]
    assert list(zip(listed["symbol_y"], listed["symbol_x"], strict=True)) == [
        ("SOLUSDT", "BTCUSDT")
    ]
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = RedisKeys(settings.redis_prefix).live_pairs
    assert client.smembers(key) == {"SOLUSDT/BTCUSDT"}
    live2 = LivePairs(s.database_url, s.redis_url, s.redis_prefix)
    client.delete(key)
    assert live2.sync() == 1 and client.smembers(key) == {"SOLUSDT/BTCUSDT"}
    live2.demote("SOLUSDT", "BTCUSDT")
    assert client.smembers(key) == set() and live2.list().empty
    live2.close()
