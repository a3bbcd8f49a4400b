"""First-start history: the simulator serves its past over REST; `qp seed` stores and resamples it.

Real simulator (REST over HTTP), real TimescaleDB; the same client, writer and
resample code the live platform uses.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from quant_platform.cli.seed_cmd import seed_history
from quant_platform.config import Settings
from quant_platform.feed.decoder import TradeDecoder
from quant_platform.feed.routes import combined_url
from quant_platform.orchestration.partitions import (
    hourly_start,
    partitions_start,
    record_data_start,
)
from quant_platform.simulator.server import ExchangeSimulator

SYMS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
HOURS = 2.0


def test_history_over_rest_is_the_live_path_and_klines_agree() -> None:
    async def main() -> None:
        async with ExchangeSimulator(SYMS, history_s=HOURS * 3600, history_rate=5.0) as sim:
            now_ms = time.time() * 1000
            fills = sim.history("ETHUSDT")
            assert fills and now_ms - HOURS * 3_600_000 - 5_000 <= fills[0].time_ms
            assert fills[-1].time_ms <= now_ms
            async with httpx.AsyncClient(base_url=sim.rest_url) as c:
                page = (
                    await c.get(
                        "/fapi/v1/historicalTrades",
                        params={"symbol": "ETHUSDT", "fromId": fills[0].trade_id, "limit": 500},
                    )
                ).json()
                assert [r["id"] for r in page] == [f.trade_id for f in fills[:500]]
                bad = await c.get(
                    "/fapi/v1/historicalTrades", params={"symbol": "ETHUSDT", "limit": 501}
                )
                assert bad.status_code == 400
                kl = (
                    await c.get(
                        "/fapi/v1/klines",
                        params={"symbol": "ETHUSDT", "interval": "1m", "limit": 1500},
                    )
                ).json()
            # Klines aggregate exactly the fills REST serves.
            assert sum(k[8] for k in kl) == len(fills)
            first_min = [f for f in fills if f.time_ms < kl[0][6] + 1]
            assert kl[0][1] == f"{float(first_min[0].price)}"
            assert abs(float(kl[0][5]) - sum(float(f.qty) for f in first_min)) < 1e-6
            # The live stream continues the ids where the history ends.
            url = combined_url(sim.url, "trade", ["ETHUSDT"])
            async with connect(url, close_timeout=1) as ws:
                msg = await asyncio.wait_for(ws.recv(), 10)
            got = TradeDecoder(SYMS).decode(msg, time.time_ns()).trade
            assert got is not None and got.trade_id == fills[-1].trade_id + 1
            assert abs(got.price / float(fills[-1].price) - 1) < 0.02

    asyncio.run(asyncio.wait_for(main(), 60))


def test_seed_stores_history_and_bars_once(settings: Settings, db: psycopg.Connection) -> None:
    async def serve_and_seed() -> tuple[dict[str, int], object, object]:
        async with ExchangeSimulator(SYMS, history_s=HOURS * 3600, history_rate=5.0) as sim:
            want = {s: len(sim.history(s)) for s in SYMS}
            first = await asyncio.to_thread(
                seed_history, settings, sim.rest_url, HOURS, weight_per_min=100_000
            )
            again = await asyncio.to_thread(
                seed_history, settings, sim.rest_url, HOURS, weight_per_min=100_000
            )
            return want, first, again

    want, first, again = asyncio.run(asyncio.wait_for(serve_and_seed(), 120))
    stored = dict(db.execute("SELECT symbol, count(*) FROM trades GROUP BY symbol").fetchall())
    # Every fill of the history window (the first second may fall just outside it).
    for s in SYMS:
        assert want[s] - 20 <= stored[s] <= want[s]
    assert first.stored == sum(stored.values())
    bars = dict(
        db.execute(
            "SELECT symbol, count(*) FROM ohlcv WHERE interval = '1m' GROUP BY symbol"
        ).fetchall()
    )
    assert all(bars[s] >= HOURS * 60 - 5 for s in SYMS)
    n = db.execute(
        "SELECT sum(trade_count) FROM ohlcv WHERE interval = '1m' AND symbol = 'BTCUSDT'"
    ).fetchone()[0]
    assert n == stored["BTCUSDT"]
    assert again.symbols == {} and sorted(again.skipped) == sorted(SYMS)


def test_partitions_start_at_the_recorded_data_start(settings: Settings) -> None:
    assert partitions_start(settings) == "2026-01-01-00:00"  # nothing recorded yet
    t = datetime(2026, 12, 1, 15, 42, tzinfo=UTC)
    assert record_data_start(settings, t) == "2026-12-01-15:00"
    assert record_data_start(settings, t + timedelta(days=3)) == "2026-12-01-15:00"  # once
    assert hourly_start(settings) == datetime(2026, 12, 1, 15, tzinfo=UTC)
    explicit = settings.model_copy(update={"partitions_start": "2026-11-30"})
    assert partitions_start(explicit) == "2026-11-30-00:00"


def test_seeded_hours_show_as_materialised_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Catalog shows the seeded hours filled, not missing (runless materialisations)."""
    from dagster import AssetKey, DagsterInstance

    from quant_platform.cli.seed_cmd import report_bars_to_dagster
    from quant_platform.cli.up_cmd import DAGSTER_YAML

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.read_text())
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    end = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert report_bars_to_dagster(str(home), end - timedelta(hours=3), end) == 3
    with DagsterInstance.from_config(str(home)) as instance:
        keys = instance.get_materialized_partitions(AssetKey("ohlcv"))
    assert keys == {"2026-12-02-12:00", "2026-12-02-13:00", "2026-12-02-14:00"}
