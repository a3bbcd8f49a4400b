"""The daily pair-screen asset: one partition, rows in pair_screens, top pairs as metadata."""

from datetime import UTC, datetime, timedelta

import psycopg
from dagster import DagsterInstance, materialize

from quant_platform.orchestration.screener import pair_screen
from quant_platform.orchestration.screener.assets import PairScreenConfig
from quant_platform_tests.research.research_seed import PLANTED, seed_universe


def test_pair_screen_partition_ranks_planted_pair_and_replaces_on_rerun(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    day = datetime(2026, 9, 20, tzinfo=UTC)
    seed_universe(db, end=day + timedelta(days=1) - timedelta(hours=1), thin=None)
    config = {"ops": {"pair_screen": {"config": PairScreenConfig(lookback_days=1).model_dump()}}}
    for _ in range(2):
        result = materialize(
            [pair_screen],
            partition_key="2026-09-20",
            resources=resources,
            instance=instance,
            run_config=config,
        )
        assert result.success
    meta = result.asset_materializations_for_node("pair_screen")[0].metadata
    assert meta["pairs"].value == 6 and meta["symbols"].value == 4
    assert "ETHUSDT" in meta["top_pairs"].value
    rows = db.execute(
        "SELECT screen_id, symbol_y, symbol_x, rank, qvalue, window_end FROM pair_screens"
        " ORDER BY rank"
    ).fetchall()
    assert len(rows) == 6 and {r[0] for r in rows} == {"2026-09-20"}
    assert (rows[0][1], rows[0][2]) == PLANTED and rows[0][4] <= 0.05
    assert rows[0][5] == day + timedelta(days=1)
