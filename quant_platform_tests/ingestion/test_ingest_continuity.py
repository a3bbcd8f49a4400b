"""Every trade the venue published is stored exactly once, or counted unrecovered.

Real daemon, real simulator, real TimescaleDB and Redis: REST-only gaps (the
simulator's blackout fault withholds frames it still serves over REST), a
@trade gap too old for /fapi/v1/trades, a 418 with Retry-After in the middle
of a backfill, and a venue clock 6 minutes off the host's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.simulator.faults import FaultConfig
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, run_daemon, venue_count


def stored_ids(database_url: str, kind: str) -> dict[str, list[int]]:
    """Stored ids per symbol of one kind, with repeats (so duplicates show)."""
    out: dict[str, list[int]] = {s: [] for s in SYMBOLS}
    with psycopg.connect(database_url) as conn:
        for symbol, tid in conn.execute(
            "SELECT symbol, trade_id FROM trades WHERE kind = %s ORDER BY symbol, trade_id",
            (kind,),
        ):
            out[symbol].append(int(tid))
    return out


def settled(sim_box: list[ExchangeSimulator], kind: str) -> Callable[[IngestionDaemon], bool]:
    """Settled: the daemon holds each symbol's last published id, no gap is queued or in
    flight, nothing is pending, the database is up (a loaded machine can lag the venue)."""

    def done(d: IngestionDaemon) -> bool:
        sim = sim_box[0]
        for s in SYMBOLS:
            ids = sim.agg_history(s) if kind == "aggTrade" else sim.history(s)
            last = ids[-1].agg_id if kind == "aggTrade" else ids[-1].trade_id
            if d.tracker.last_id(s, kind) != last:
                return False
        return d.gap_filler.idle() and d.flusher.pending == 0 and d.flusher.db_up

    return done


def _waiter(sim_box: list[ExchangeSimulator]):  # noqa: ANN202 - test helper
    async def wait(sim: ExchangeSimulator, d: IngestionDaemon) -> None:
        sim_box.append(sim)
        await sim.wait_done(60)

    return wait


@pytest.mark.timeout(120)
def test_rest_only_gap_of_5000_aggtrades_is_stored_exactly(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    faults = FaultConfig(blackout_after_n=300, blackout_frames=5000)
    box: list[ExchangeSimulator] = []
    sim, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=16_000,
            rate=4000,
            faults=faults,
            stream="aggTrade",
            during=_waiter(box),
            settle=settled(box, "aggTrade"),
        )
    )
    assert code == 0
    # The blacked-out ids never arrive live, so every one came over REST: as a live id
    # gap, or (when a loaded host makes the silence look like a dead connection and the
    # daemon reconnects) through the reconnect's "everything after the last id" walk.
    assert daemon.counts["gap_trades"] > 0
    assert daemon.counts["unrecovered"] == 0
    assert daemon.counts["backfilled"] >= 5000
    stored = stored_ids(settings.database_url, "aggTrade")
    for s in SYMBOLS:
        published = [a.agg_id for a in sim.agg_history(s)]
        assert stored[s] == published, s  # all of them, each once, nothing invented
    assert sum(len(v) for v in stored.values()) == venue_count(sim, "aggTrade")


@pytest.mark.timeout(120)
def test_trade_gap_of_3000_older_than_recent_trades_falls_back_to_aggtrades(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    faults = FaultConfig(blackout_after_n=400, blackout_frames=3000)
    box: list[ExchangeSimulator] = []
    sim, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=12_000,  # > 1000 fills per symbol after the gap: /fapi/v1/trades cannot reach it
            rate=4000,
            faults=faults,
            stream="trade",
            during=_waiter(box),
            settle=settled(box, "trade"),
        )
    )
    assert code == 0
    assert daemon.counts["backfilled"] + daemon.counts["unrecovered"] >= 3000
    trades = stored_ids(settings.database_url, "trade")
    aggs = stored_ids(settings.database_url, "aggTrade")
    covered_total = 0
    for s in SYMBOLS:
        assert len(trades[s]) == len(set(trades[s])), s  # no duplicates
        assert len(aggs[s]) == len(set(aggs[s])), s
        by_id = {a.agg_id: a for a in sim.agg_history(s)}
        covered: set[int] = set()
        for aid in aggs[s]:
            a = by_id[aid]  # every stored aggTrade is one the venue published
            ids = set(range(a.first_id, a.last_id + 1))
            assert not ids & covered
            covered |= ids
        assert not covered & set(trades[s]), s  # never a trade stored as both kinds
        published = {f.trade_id for f in sim.history(s)}
        assert set(trades[s]) | covered <= published
        covered_total += len(covered)
    stored_trades = sum(len(v) for v in trades.values())
    assert daemon.counts["backfilled_via_agg"] == covered_total > 0
    # Exact accounting: every published trade is stored (as itself or inside a stored
    # aggTrade) or counted unrecovered; the unrecovered are only aggTrades straddling
    # the gap's edges (at most two per symbol, each a few fills).
    assert stored_trades + covered_total + daemon.counts["unrecovered"] == venue_count(sim, "trade")
    assert daemon.counts["unrecovered"] < 3000 // 10


KEY = "qp-test-key-7f3a9c"  # the simulator's accepted MARKET_DATA key


def _client_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged at any level except by the simulator's HTTP server (the venue's
    side, whose websockets DEBUG log prints request headers it received)."""
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith("websockets.server")
    )


def _trade_gap_run(
    settings: Settings, tmp_path: Path, api_key: str
) -> tuple[ExchangeSimulator, IngestionDaemon, int]:
    """The 3,000-trade @trade gap above, against a simulator that wants KEY for
    historicalTrades, with the daemon configured with `api_key`."""
    box: list[ExchangeSimulator] = []
    return asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=12_000,  # > 1000 fills per symbol after the gap: /fapi/v1/trades cannot reach it
            rate=4000,
            faults=FaultConfig(blackout_after_n=400, blackout_frames=3000),
            stream="trade",
            during=_waiter(box),
            settle=settled(box, "trade"),
            sim_kwargs={"api_keys": frozenset({KEY})},
            binance_api_key=api_key,
        )
    )


@pytest.mark.timeout(120)
def test_trade_gap_of_3000_with_an_api_key_is_filled_from_historical_trades(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With QP_BINANCE_API_KEY: every published trade stored once as kind 'trade'."""
    with caplog.at_level("DEBUG"):
        sim, daemon, code = _trade_gap_run(settings, tmp_path, KEY)
    assert code == 0
    assert sim.keyed_requests > 0  # historicalTrades was asked, with the key in its header
    trades = stored_ids(settings.database_url, "trade")
    assert stored_ids(settings.database_url, "aggTrade") == {s: [] for s in SYMBOLS}
    for s in SYMBOLS:
        assert trades[s] == [f.trade_id for f in sim.history(s)], s  # all, each once
    c = daemon.counts
    assert c["unrecovered"] == 0 and c["backfilled_via_agg"] == 0
    assert c["backfilled"] >= 3000
    assert c["backfilled_historical"] > 0  # the part /fapi/v1/trades no longer reaches
    v = daemon.registry.get_sample_value("qp_feed_backfilled_historical_total")
    assert v == c["backfilled_historical"]
    assert KEY not in _client_log(caplog)  # never logged
    assert KEY not in repr(daemon.settings)


@pytest.mark.timeout(120)
def test_a_refused_api_key_falls_back_to_aggtrades_and_is_not_logged(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "qp-test-key-wrong-51e0"
    with caplog.at_level("DEBUG"):
        sim, daemon, code = _trade_gap_run(settings, tmp_path, wrong)
    assert code == 0
    assert sim.keyed_requests == 0
    assert not daemon.backfiller.has_api_key  # dropped after the venue's 401
    assert "refused the API key" in caplog.text and wrong not in _client_log(caplog)
    c = daemon.counts
    assert c["backfilled_historical"] == 0 and c["backfilled_via_agg"] > 0
    assert c["unrecovered"] < 3000 // 10


@pytest.mark.timeout(120)
def test_418_with_retry_after_during_backfill_drops_nothing(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    box: list[ExchangeSimulator] = []

    async def during(sim: ExchangeSimulator, d: IngestionDaemon) -> None:
        # Every backfill request of the first few answers 418 with Retry-After: 1 s;
        # more than one request waits out, so the gap is parked and re-queued too.
        sim.fail_next_rest(8, status=418, retry_after_s=1.0)
        await _waiter(box)(sim, d)

    faults = FaultConfig(blackout_after_n=300, blackout_frames=2500)
    sim, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=9_000,
            rate=4000,
            faults=faults,
            stream="aggTrade",
            during=during,
            settle=settled(box, "aggTrade"),
        )
    )
    assert code == 0
    assert daemon.backfiller.throttled >= 8
    assert daemon.counts["throttled"] >= 1  # parked at least once with the gap kept
    assert daemon.counts["backfilled"] >= 2500 and daemon.counts["unrecovered"] == 0
    stored = stored_ids(settings.database_url, "aggTrade")
    for s in SYMBOLS:
        assert stored[s] == [a.agg_id for a in sim.agg_history(s)], s


@pytest.mark.timeout(120)
@pytest.mark.parametrize("skew_ms", [6 * 60_000, -6 * 60_000])
def test_venue_clock_six_minutes_off_rejects_no_frame(
    settings: Settings, db: psycopg.Connection, tmp_path: Path, skew_ms: int
) -> None:
    sim, daemon, code = asyncio.run(
        run_daemon(
            settings,
            tmp_path,
            total=3000,
            rate=3000,
            stream="trade",
            sim_kwargs={"clock_offset_ms": skew_ms},
        )
    )
    assert code == 0
    assert abs(daemon.venue_clock.offset_ms - skew_ms) < 2000
    assert daemon.counts["rejected"] == 0
    assert daemon.decoder.rejected["future_time"] == daemon.decoder.rejected["stale_time"] == 0
    assert daemon.kind == "trade"  # no fallback to aggTrade for a "silent" stream
    stored = stored_ids(settings.database_url, "trade")
    assert sum(len(v) for v in stored.values()) == venue_count(sim, "trade")
