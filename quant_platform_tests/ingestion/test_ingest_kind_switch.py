"""QP_STREAM changed between runs (trade <-> aggTrade): the new kind picks up where the
old one stopped, by time, so the switch leaves no hole and stores no trade twice.

Real simulator (it keeps publishing while no daemon runs), real daemons one after
the other, real TimescaleDB. Coverage is judged in trade ids: a trade row covers
its id, an aggTrade row the ids `f..l` the venue says it aggregates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import psycopg
import pytest

from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, daemon_settings


async def _until(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _stored(database_url: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(database_url) as conn:
        return [
            (s, k, int(t)) for s, k, t in conn.execute("SELECT symbol, kind, trade_id FROM trades")
        ]


def _last_published(sim: ExchangeSimulator, kind: str, symbol: str) -> int:
    if kind == "aggTrade":
        return sim.agg_history(symbol)[-1].agg_id
    return sim.history(symbol)[-1].trade_id


async def _switch(
    settings: Settings, tmp_path: Path, first: str, second: str
) -> tuple[ExchangeSimulator, IngestionDaemon]:
    sim = ExchangeSimulator(SYMBOLS, rate=600, seed=23)
    await sim.start()
    try:
        one_settings = daemon_settings(settings, sim, tmp_path, stream=first)
        one = IngestionDaemon(one_settings, metrics_port=0)
        task = asyncio.create_task(one.run(install_signals=False))
        await _until(lambda: one.counts["accepted"] >= 400, 30, "first daemon accepted nothing")
        one.request_stop()
        assert await task == 0
        base = len(sim.history(SYMBOLS[0]))
        # the venue goes on without a daemon: a few hundred trades per symbol
        await _until(lambda: len(sim.history(SYMBOLS[0])) > base + 300, 30, "venue stalled")
        two = IngestionDaemon(
            daemon_settings(settings, sim, tmp_path, stream=second), metrics_port=0
        )
        task = asyncio.create_task(two.run(install_signals=False))
        await _until(lambda: two.counts["accepted"] >= 400, 30, "second daemon accepted nothing")
        await sim.halt()  # "published" is final

        def settled() -> bool:
            held = all(
                two.tracker.last_id(s, second) == _last_published(sim, second, s) for s in SYMBOLS
            )
            return held and two.gap_filler.idle() and two.flusher.pending == 0

        await _until(settled, 60, "second daemon did not catch up")
        two.request_stop()
        assert await task == 0
    finally:
        await sim.stop()
    return sim, two


@pytest.mark.parametrize(("first", "second"), [("trade", "aggTrade"), ("aggTrade", "trade")])
@pytest.mark.timeout(180)
def test_a_stream_kind_change_continues_from_the_other_kinds_newest_row(
    settings: Settings,
    db: psycopg.Connection,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    first: str,
    second: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="quant_platform.ingestion.daemon"):
        sim, two = asyncio.run(_switch(settings, tmp_path, first, second))
    carried = [r.getMessage() for r in caplog.records if "QP_STREAM is" in r.getMessage()]
    assert len(carried) == len(SYMBOLS), carried  # one carry-over per symbol
    assert all(f"the newest stored row is a {first}" in m for m in carried)
    rows = _stored(settings.database_url)
    assert len(rows) == len(set(rows))  # no duplicate row
    total_missing = 0
    for s in SYMBOLS:
        ranges = {a.agg_id: (a.first_id, a.last_id) for a in sim.agg_history(s)}
        covered: list[int] = []
        for symbol, kind, tid in rows:
            if symbol != s:
                continue
            if kind == "trade":
                covered.append(tid)
            else:
                lo, hi = ranges[tid]  # every stored aggTrade is one the venue published
                covered.extend(range(lo, hi + 1))
        assert len(covered) == len(set(covered)), s  # no trade stored as both kinds
        published = {f.trade_id for f in sim.history(s)}
        assert set(covered) <= published, s
        missing = published - set(covered)
        first_id = min(covered)  # the first daemon joined mid-stream: earlier ids are not ours
        total_missing += len({i for i in missing if i > first_id})
    # the only trades missing are those at the seam, each counted unrecovered
    assert total_missing == two.counts["unrecovered"]
    assert two.counts["backfilled"] > 0  # the stretch between the runs came over REST
    kinds = {k for _, k, _ in rows}
    assert kinds == {first, second}
    if first == "aggTrade":
        assert two.counts["unrecovered"] == 0  # aggTrade → trade: the next trade id is exact
