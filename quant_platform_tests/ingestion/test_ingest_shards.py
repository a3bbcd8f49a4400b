"""Sharded daemons (`qp ingest --shard i/n`) share one TimescaleDB and one Redis.

Two real daemons against one real simulator store exactly the published trades, each
once; then a symbol moves from shard A to shard B while both run (the new owner
starts before the old one stops, so they overlap) and it is still exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from quant_platform.config import Settings, SettingsError
from quant_platform.config.sharding import parse_shard, shard_settings, shard_symbols
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, daemon_settings


def test_shards_split_symbols_round_robin_and_cover_all() -> None:
    symbols = ("SOLUSDT", "BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT")
    shards = [shard_symbols(symbols, i, 2) for i in range(2)]
    assert shards == [("BNBUSDT", "ETHUSDT", "XRPUSDT"), ("BTCUSDT", "SOLUSDT")]
    assert sorted(shards[0] + shards[1]) == sorted(symbols)
    assert parse_shard("1/3") == (1, 3)


@pytest.mark.parametrize("spec", ["2/2", "x/2", "0/0", "-1/2", "1"])
def test_bad_shard_names_the_flag(spec: str) -> None:
    with pytest.raises(SettingsError, match="--shard"):
        parse_shard(spec)


def test_more_shards_than_symbols_is_an_error() -> None:
    with pytest.raises(SettingsError, match="at most 2 shards"):
        shard_symbols(("BTCUSDT", "ETHUSDT"), 0, 3)


def test_shard_settings_keep_inside_pairs_and_own_spool(settings: Settings) -> None:
    base = settings.model_copy(
        update={"symbols": SYMBOLS, "pairs": ("BNBUSDT/ETHUSDT", "BTCUSDT/ETHUSDT")}
    )
    one = shard_settings(base, 0, 2)
    two = shard_settings(base, 1, 2)
    assert one.symbols == ("BNBUSDT", "ETHUSDT") and one.pairs == ("BNBUSDT/ETHUSDT",)
    assert two.symbols == ("BTCUSDT", "SOLUSDT")
    assert one.spool_dir != two.spool_dir != base.spool_dir


def _stored(database_url: str) -> tuple[int, set[tuple[str, int]]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT symbol, trade_id FROM trades").fetchall()
    return len(rows), {(str(s), int(i)) for s, i in rows}


def _published(sim: ExchangeSimulator) -> set[tuple[str, int]]:
    return {(s, f.trade_id) for s in SYMBOLS for f in sim.history(s)}


async def until(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _stop(daemon: IngestionDaemon, task: asyncio.Task[int]) -> None:
    daemon.request_stop()
    assert await asyncio.wait_for(task, timeout=30) == 0


async def _shards(
    base: Settings,
    tmp: Path,
    plan: list[tuple[str, tuple[str, ...]]],
    move: list[tuple[str, tuple[str, ...], str]],
    total: int,
) -> tuple[ExchangeSimulator, dict[str, IngestionDaemon]]:
    """Start one daemon per (name, symbols) in `plan`; for each (new, symbols, old) in
    `move`, once trades flow start `new` and, when it has accepted trades, stop `old`."""
    # the venue starts once every first daemon has subscribed, so none misses the start
    sim = ExchangeSimulator(
        SYMBOLS, rate=1500, total_trades=total, seed=23, start_subscribers=len(plan)
    )
    await sim.start()
    daemons: dict[str, IngestionDaemon] = {}
    tasks: dict[str, asyncio.Task[int]] = {}

    def start(name: str, symbols: tuple[str, ...]) -> None:
        s = daemon_settings(base, sim, tmp / name, symbols=symbols)
        daemons[name] = IngestionDaemon(s, metrics_port=0)
        tasks[name] = asyncio.create_task(daemons[name].run(install_signals=False))

    try:
        for name, symbols in plan:
            start(name, symbols)
        for new, symbols, old in move:
            await until(lambda: sim.generated > total // 4, "trades to flow")
            start(new, symbols)
            await until(lambda n=new: daemons[n].counts["accepted"] > 0, f"{new} accepting")
            await _stop(daemons[old], tasks[old])
        await sim.wait_done(60)
        expected = len(_published(sim))
        running = [n for n, t in tasks.items() if not t.done()]

        def settled() -> bool:
            flushed = all(daemons[n].flusher.pending == 0 for n in running)
            return flushed and _stored(base.database_url)[0] >= expected

        await until(settled, "every published trade stored")
        for n in running:
            await _stop(daemons[n], tasks[n])
    finally:
        for t in tasks.values():
            if not t.done():
                t.cancel()
        await sim.stop()
    return sim, daemons


def test_two_disjoint_shards_store_exactly_the_published_trades(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    base = settings.model_copy(update={"symbols": SYMBOLS, "pairs": ()})
    a, b = shard_symbols(SYMBOLS, 0, 2), shard_symbols(SYMBOLS, 1, 2)
    sim, daemons = asyncio.run(_shards(base, tmp_path, [("a", a), ("b", b)], [], total=3000))
    rows, stored = _stored(settings.database_url)
    assert stored == _published(sim)
    assert rows == len(stored)  # no duplicates
    assert daemons["a"].counts["accepted"] > 0 and daemons["b"].counts["accepted"] > 0
    assert {s for s, _ in stored} == set(SYMBOLS)


def test_symbol_moves_between_running_shards_exactly_once(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """ETHUSDT moves from A to B: B2 (B + ETH) starts and overlaps A and B, then B stops;
    then A2 (A - ETH) starts and A stops. Every symbol always has an owner."""
    base = settings.model_copy(update={"symbols": SYMBOLS, "pairs": ()})
    a, b = ("BTCUSDT", "ETHUSDT"), ("BNBUSDT", "SOLUSDT")
    moves = [("b2", ("ETHUSDT", *b), "b"), ("a2", ("BTCUSDT",), "a")]
    sim, daemons = asyncio.run(_shards(base, tmp_path, [("a", a), ("b", b)], moves, total=6000))
    rows, stored = _stored(settings.database_url)
    assert stored == _published(sim)
    assert rows == len(stored)  # the overlap stored nothing twice
    assert daemons["b2"].counts["accepted"] > 0 and daemons["a2"].counts["accepted"] > 0


def test_qp_up_shards_runs_one_ingest_per_shard_on_its_own_metrics_port(
    settings: Settings,
) -> None:
    from quant_platform.cli.up_cmd import build_specs

    specs = {s.name: s for s in build_specs(settings, "binance", shards=3)}
    ingest = [specs[f"ingest-{i}"] for i in range(3)]
    assert "ingest" not in specs
    assert [s.argv[-2:] for s in ingest] == [["--shard", f"{i}/3"] for i in range(3)]
    ports = [int(s.env["QP_METRICS_PORT"]) for s in ingest]
    assert ports == [settings.metrics_port + i for i in range(3)]


def test_qp_ingest_bad_shard_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from quant_platform.cli.main import main

    assert main(["ingest", "--shard", "2/2"]) == 2
    assert "--shard 0/2" in capsys.readouterr().err
