"""A pair whose legs sit on different shards gets live statistics from exactly one shard.

Two real daemons (`--shard 0/2` and `1/2`) against one real simulator, Redis and
TimescaleDB: ETHUSDT/SOLUSDT belongs to shard 0 (it owns ETHUSDT, the first leg),
which reads SOLUSDT's trades from shard 1's Redis tick stream. The remote leg's
bars equal shard 1's own, and the published statistics equal the pure cycle
applied to the owners' bars. Then shard 0 restarts with shard 1 gone: it backfills
SOLUSDT's history from the stream, and the pair is published as stale with no
z-score, and /health names the silent leg.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import redis as redis_lib

from quant_platform.alerts.rules import AlertRule
from quant_platform.alerts.store import AlertStore
from quant_platform.config import Settings, load_settings
from quant_platform.config.sharding import shard_settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.ingestion.live_analytics import CycleInputs, compute_cycle
from quant_platform.ingestion.wiring import attach_alerts
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform.storage.redis_keys import RedisKeys
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, daemon_settings

PAIR = ("ETHUSDT", "SOLUSDT")
TARGET = "ETHUSDT/SOLUSDT"
LOCAL_PAIR = "BTCUSDT/SOLUSDT"


def test_every_pair_has_exactly_one_shard_and_its_remote_legs(settings: Settings) -> None:
    base = settings.model_copy(update={"symbols": SYMBOLS, "pairs": ()})
    shards = [shard_settings(base, i, 2) for i in range(2)]
    owned = [set(s.pair_list) for s in shards]
    assert owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == set(base.pair_list)
    for s in shards:
        assert all(y in s.symbols for y, _ in s.pair_list)  # first leg owned
        assert set(s.remote_symbols) == {x for _, x in s.pair_list} - set(s.symbols)
        assert set(s.remote_symbols).isdisjoint(s.symbols)


def test_remote_symbols_setting_admits_pairs_and_rejects_overlap(settings: Settings) -> None:
    s = load_settings(
        database_url=settings.database_url,
        symbols="ETHUSDT",
        remote_symbols="SOLUSDT",
        pairs="ETHUSDT/SOLUSDT",
    )
    assert s.pair_list == [PAIR]
    with pytest.raises(Exception, match="QP_REMOTE_SYMBOLS"):
        load_settings(symbols="ETHUSDT,SOLUSDT", remote_symbols="SOLUSDT")


def test_promoted_pairs_go_to_the_shard_owning_their_first_leg(settings: Settings) -> None:
    from quant_platform.ingestion.live_analytics import LiveAnalytics

    s = settings.model_copy(
        update={"symbols": ("ETHUSDT",), "remote_symbols": ("SOLUSDT",), "pairs": ()}
    )
    live = LiveAnalytics(s)
    live.promoted = [("SOLUSDT", "ETHUSDT"), ("ETHUSDT", "SOLUSDT"), ("ETHUSDT", "BTCUSDT")]
    assert live.pairs() == [("ETHUSDT", "SOLUSDT")]
    assert set(live.bars) == {"ETHUSDT", "SOLUSDT"}


async def until(cond: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _payload(r: redis_lib.Redis, keys: RedisKeys, target: str) -> dict[str, Any] | None:
    raw = r.get(keys.pair_analytics(*target.split("/")))
    return json.loads(raw) if raw else None


def _same_bars(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _expected(inputs: CycleInputs, sol: dict[str, np.ndarray]) -> dict[str, float]:
    """What one unsharded cycle computes from the owners' bars (SOLUSDT from its owner)."""
    arrays = {**inputs.arrays, "SOLUSDT": sol}
    return compute_cycle(dataclasses.replace(inputs, arrays=arrays)).snapshot[TARGET]


def _watch_fired(daemon: IngestionDaemon, fired: set[str]) -> None:
    evaluate = daemon.alert_loop.engine.evaluate

    def recording(snapshot: dict, *args: object, **kwargs: object) -> list[Any]:
        out = evaluate(snapshot, *args, **kwargs)
        fired.update(e.target for e in out)
        return out

    daemon.alert_loop.engine.evaluate = recording


class _Run:
    """Two shard daemons against one simulator; phase two restarts shard 0 alone."""

    def __init__(self, base: Settings, tmp: Path) -> None:
        self.base = base
        self.tmp = tmp
        self.keys = RedisKeys(base.redis_prefix)
        self.r = redis_lib.Redis.from_url(base.redis_url)
        self.fired: dict[str, set[str]] = {"a": set(), "b": set()}
        self.results: dict[str, Any] = {}

    async def _daemon(self, sim: ExchangeSimulator, name: str, shard: int) -> IngestionDaemon:
        s = daemon_settings(
            self.base, sim, self.tmp / name, symbols=SYMBOLS, pairs=(TARGET, LOCAL_PAIR)
        )
        s = shard_settings(s, shard, 2).model_copy(update={"remote_stale_s": 3.0})
        d = IngestionDaemon(s, metrics_port=0)
        await attach_alerts(d, s)
        return d

    async def shared(self) -> None:
        sim = ExchangeSimulator(SYMBOLS, rate=160, total_trades=7200, seed=5, start_subscribers=2)
        await sim.start()
        a, b = await self._daemon(sim, "a", 0), await self._daemon(sim, "b", 1)
        _watch_fired(a, self.fired["a"])
        _watch_fired(b, self.fired["b"])
        tasks = [asyncio.create_task(d.run(install_signals=False)) for d in (a, b)]
        try:
            await sim.wait_done(120)
            published = {s: len(sim.history(s)) for s in SYMBOLS}
            sol_key = self.keys.ticks("SOLUSDT")

            def caught_up() -> bool:
                n_b = b.counts["accepted"] == published["BTCUSDT"] + published["SOLUSDT"]
                n_a = a.counts["accepted"] == published["ETHUSDT"] + published["BNBUSDT"]
                sol = a.remote_legs.legs["SOLUSDT"].entries == published["SOLUSDT"]
                return n_a and n_b and sol and self.r.xlen(sol_key) == published["SOLUSDT"]

            await until(caught_up, "both shards and the remote leg caught up")
            settled = time.time()
            await until(
                lambda: (
                    (_payload(self.r, self.keys, TARGET) or {}).get("computed_at", 0)
                    > settled + 0.01
                ),
                "a cycle after the remote leg caught up",
            )
            self.results.update(
                payload=_payload(self.r, self.keys, TARGET),
                expected=_expected(a.live.gather(), b.live.bars["SOLUSDT"].arrays()),
                same_bars=_same_bars(
                    a.live.bars["SOLUSDT"].arrays(), b.live.bars["SOLUSDT"].arrays()
                ),
                sol_bars=b.live.bars["SOLUSDT"].arrays(),
                a_pairs=a.live.pairs(),
                b_pairs=b.live.pairs(),
                b_snapshot=set(b.live.snapshot),
                local_payload=_payload(self.r, self.keys, LOCAL_PAIR),
                a_health=a.health(),
            )
            for d in (a, b):
                d.request_stop()
            assert [await asyncio.wait_for(t, 30) for t in tasks] == [0, 0]
        finally:
            for t in tasks:
                t.cancel()
            await sim.stop()

    async def restart_alone(self) -> None:
        """Shard 0 again, shard 1 gone: SOLUSDT comes back from the stream and then ages."""
        sim = ExchangeSimulator(SYMBOLS[:3], rate=120, total_trades=100_000, seed=9)
        await sim.start()
        a = await self._daemon(sim, "a2", 0)
        task = asyncio.create_task(a.run(install_signals=False))
        try:
            n_sol = int(self.r.xlen(self.keys.ticks("SOLUSDT")))
            await until(
                lambda: a.remote_legs.legs["SOLUSDT"].entries == n_sol,
                "SOLUSDT backfilled from its stream",
            )
            self.results["restart_same_bars"] = _same_bars(
                a.live.bars["SOLUSDT"].arrays(), self.results["sol_bars"]
            )
            await until(
                lambda: (_payload(self.r, self.keys, TARGET) or {}).get("stale") == 1.0,
                "the pair published as stale",
            )
            self.results["stale_payload"] = _payload(self.r, self.keys, TARGET)
            await until(lambda: bool(a.remote_legs.problems(3.0)), "the silent leg in health")
            self.results["stale_health"] = a.health()
            a.request_stop()
            assert await asyncio.wait_for(task, 30) == 0
        finally:
            task.cancel()
            await sim.stop()


@pytest.mark.timeout(300)
def test_cross_shard_pair_live_statistics_from_one_shard_then_stale(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    AlertStore(settings.database_url).create_rule(
        AlertRule(name="cross-z", kind="zscore", target=TARGET, params={"k": 1e-9})
    )
    base = settings.model_copy(update={"symbols": SYMBOLS})
    run = _Run(base, tmp_path)
    asyncio.run(run.shared())
    res = run.results
    # ownership: shard 0 owns ETHUSDT, so the pair and its remote SOLUSDT leg are its alone
    assert PAIR in res["a_pairs"] and PAIR not in res["b_pairs"]
    assert TARGET not in res["b_snapshot"] and res["local_payload"] is not None
    # the remote leg's bars, rebuilt from shard 1's stream, are shard 1's own bars
    assert res["same_bars"]
    payload, expected = res["payload"], res["expected"]
    assert payload["stale"] == 0.0 and math.isfinite(payload["zscore"])
    for k, v in expected.items():
        assert payload[k] == (None if math.isnan(v) else v), k
    assert res["a_health"]["remote_legs"]["SOLUSDT"]["entries"] > 0
    # fast alerts: the pair's rule fired in shard 0's engine and never in shard 1's
    assert TARGET in run.fired["a"] and TARGET not in run.fired["b"]
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM alert_events WHERE target = %s", (TARGET,)
        ).fetchone()
    assert row is not None and row[0] >= 1

    asyncio.run(run.restart_alone())
    assert res["restart_same_bars"]
    stale = res["stale_payload"]
    assert stale["stale"] == 1.0 and stale.get("zscore") is None
    assert stale["remote_lag_s"] is None or stale["remote_lag_s"] > 3.0
    health = res["stale_health"]
    assert not health["ok"] and any("SOLUSDT" in p for p in health["problems"])
