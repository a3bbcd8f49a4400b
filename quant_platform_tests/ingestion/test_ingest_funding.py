"""The daemon keeps funding_rates filled: REST backfill at start, the @markPrice stream after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg

from quant_platform.config import Settings
from quant_platform.ingestion.daemon import IngestionDaemon
from quant_platform.ingestion.wiring import attach_funding
from quant_platform.simulator.funding import FUNDING_INTERVAL_MS, funding_rate
from quant_platform.simulator.server import ExchangeSimulator
from quant_platform_tests.ingestion.daemon_harness import SYMBOLS, daemon_settings


def test_daemon_backfills_funding_then_keeps_it_live_from_the_stream(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    t0_real = time.monotonic()
    t0_ms = int(time.time() * 1000)

    def clock_ms() -> int:  # the venue's clock: now, then 8 h of funding every 1 s
        return t0_ms + int((time.monotonic() - t0_real) / 1.0 * FUNDING_INTERVAL_MS)

    async def main() -> int:
        sim = ExchangeSimulator(
            SYMBOLS, rate=50.0, mark_price_interval_s=0.02, clock_ms=clock_ms, seed=11
        )
        await sim.start()
        try:
            s = daemon_settings(settings, sim, tmp_path / "qp")
            daemon = IngestionDaemon(s, metrics_port=0)
            attach_funding(daemon, s)
            task = asyncio.create_task(daemon.run(install_signals=False))
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                n_future = db.execute(
                    "SELECT count(*) FROM funding_rates WHERE funding_time > now()"
                ).fetchone()[0]
                if n_future >= 2 * len(SYMBOLS):
                    break
                await asyncio.sleep(0.2)
            daemon.request_stop()
            return await asyncio.wait_for(task, 30)
        finally:
            await sim.stop()

    code = asyncio.run(asyncio.wait_for(main(), 90))
    assert code == 0
    rows = db.execute(
        "SELECT symbol, (extract(epoch FROM funding_time) * 1000)::int8, funding_rate"
        " FROM funding_rates ORDER BY symbol, funding_time"
    ).fetchall()
    for sym in SYMBOLS:
        times = [t for s, t, _ in rows if s == sym]
        past = [t for t in times if t <= t0_ms]
        future = [t for t in times if t > t0_ms]
        assert len(past) >= 89  # 30 days of 8-hourly history from the REST backfill
        assert len(future) >= 2  # settled from the stream as the venue's clock passed them
        assert all(b - a == FUNDING_INTERVAL_MS for a, b in zip(times, times[1:], strict=False))
    assert all(r == float(funding_rate(s, t, 11)) for s, t, r in rows)
