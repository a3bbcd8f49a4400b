"""Retention drops exactly the chunks older than the cut, and old alert events."""

from datetime import UTC, datetime, timedelta

import psycopg
from dagster import DagsterEventType, DagsterInstance
from orch_seed import copy_trades

from quant_platform.orchestration.retention import retention_job


def test_retention_drops_only_old_chunks(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=10), now - timedelta(days=1)
    copy_trades(
        db, [(old, "BTCUSDT", 1, 100.0, 1.0, True), (recent, "BTCUSDT", 2, 101.0, 1.0, False)]
    )
    bar = "INSERT INTO ohlcv VALUES (%s, 'BTCUSDT', '1m', 1, 1, 1, 1, 1, 1, 1, 1, 0)"
    db.execute(bar, (now - timedelta(days=400),))
    db.execute(bar, (now - timedelta(days=2),))
    alert = (
        "INSERT INTO alert_events (time, rule_name, kind, target, severity, message) "
        "VALUES (%s, 'r', 'zscore', 'X/Y', 'info', 'm')"
    )
    db.execute(alert, (now - timedelta(days=100),))
    db.execute(alert, (now - timedelta(days=3),))
    assert db.execute("SELECT count(*) FROM show_chunks('trades')").fetchone()[0] == 2

    result = retention_job.execute_in_process(resources=resources, instance=instance)
    assert result.success
    assert [r[0] for r in db.execute("SELECT trade_id FROM trades").fetchall()] == [2]
    assert db.execute("SELECT count(*) FROM show_chunks('trades')").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM ohlcv").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 1

    (output,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    meta = output.step_output_data.metadata
    assert meta["dropped_chunks"].value == 2  # one trades chunk, one ohlcv chunk
    assert len(meta["dropped"].value["trades"]) == 1
    assert meta["alert_events_deleted"].value == 1
    assert meta["license"].value in {"apache", "timescale"}
    if meta["license"].value == "apache":
        assert meta["compressed_chunks"].value == 0

    # idempotent: a second pass finds nothing more to drop
    again = retention_job.execute_in_process(resources=resources, instance=instance)
    (output,) = [e for e in again.all_events if e.event_type == DagsterEventType.STEP_OUTPUT]
    assert output.step_output_data.metadata["dropped_chunks"].value == 0
