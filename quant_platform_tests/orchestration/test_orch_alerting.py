"""Alert sensors: run requests and cursor progression, and no writes while they are evaluated;
the record job lands events in the shared table and stream, the dispatch job delivers them."""

import json
from datetime import UTC, datetime, timedelta

import psycopg
import redis as redis_lib
from dagster import (
    DagsterEventType,
    DagsterInstance,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    op,
)
from orch_seed import copy_trades

from quant_platform.orchestration.alerting.jobs import alert_dispatch_job, alert_record_job
from quant_platform.orchestration.alerting.sensors import (
    DISPATCH_BATCH,
    alert_dispatch_sensor,
    cointegration_break_sensor,
    feed_freshness_sensor,
    run_failure_alert_sensor,
)
from quant_platform.orchestration.trades import trades_observation_sensor


def stream(resources: dict) -> tuple[redis_lib.Redis, str]:
    r = resources["redis"]
    return r.client(), r.key_layout().alerts_stream


def dagster_events(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT kind, target, severity, source, message FROM alert_events ORDER BY id"
    ).fetchall()


def writes(db: psycopg.Connection, resources: dict) -> tuple[int, int]:
    """What a sensor could have written: alert rows and alerts-stream entries."""
    client, key = stream(resources)
    return db.execute("SELECT count(*) FROM alert_events").fetchone()[0], client.xlen(key)


def evaluate(sensor, db: psycopg.Connection, resources: dict, **ctx):
    """Evaluate a sensor and prove the evaluation itself wrote nothing."""
    before = writes(db, resources)
    result = sensor(build_sensor_context(resources=resources, **ctx))
    assert writes(db, resources) == before, "a sensor evaluation wrote alerts"
    return result


def record(req, resources: dict, instance: DagsterInstance) -> None:
    """Run what the sensor requested, as the daemon would (the job does the writes)."""
    assert req.job_name in (None, alert_record_job.name)
    result = alert_record_job.execute_in_process(
        run_config=req.run_config, resources=resources, instance=instance, tags=req.tags
    )
    assert result.success


def test_dispatch_sensor_one_run_per_batch_and_never_repeats(
    resources: dict, instance: DagsterInstance
) -> None:
    client, key = stream(resources)
    ids = [client.xadd(key, {"id": str(i), "rule_name": "z", "message": "m"}) for i in range(3)]
    ctx = build_sensor_context(instance=instance, resources=resources)
    first = alert_dispatch_sensor(ctx)
    (req,) = first.run_requests
    assert req.run_key == f"alerts:{ids[-1]}" and first.cursor == ids[-1]
    assert req.run_config["ops"]["dispatch_alerts"]["config"] == {
        "first_id": ids[0],
        "last_id": ids[-1],
    }
    again = alert_dispatch_sensor(
        build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
    )
    assert again.run_requests == [] and again.cursor == first.cursor

    more = [client.xadd(key, {"id": str(i), "message": "m"}) for i in range(2 * DISPATCH_BATCH + 5)]
    batches = alert_dispatch_sensor(
        build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
    )
    keys = [r.run_key for r in batches.run_requests]
    assert len(keys) == 3 and len(set(keys) | {req.run_key}) == 4
    assert keys[-1] == f"alerts:{more[-1]}" and batches.cursor == more[-1]
    firsts = [
        r.run_config["ops"]["dispatch_alerts"]["config"]["first_id"] for r in batches.run_requests
    ]
    assert firsts[0] == more[0] and firsts[1] == more[DISPATCH_BATCH]


def test_dispatch_job_delivers_and_records_once(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    now = datetime.now(UTC)
    event_id = db.execute(
        "INSERT INTO alert_events (time, rule_name, kind, target, severity, message) "
        "VALUES (%s, 'z-high', 'zscore', 'ETHUSDT/BTCUSDT', 'warning', 'z 3.1') RETURNING id",
        (now,),
    ).fetchone()[0]
    client, key = stream(resources)
    client.xadd(
        key,
        {
            "id": str(event_id),
            "time": now.isoformat(),
            "rule_name": "z-high",
            "kind": "zscore",
            "severity": "warning",
            "target": "ETHUSDT/BTCUSDT",
            "message": "z 3.1",
        },
    )
    (req,) = alert_dispatch_sensor(
        build_sensor_context(instance=instance, resources=resources)
    ).run_requests
    for attempt in range(2):
        result = alert_dispatch_job.execute_in_process(
            run_config=req.run_config, resources=resources, instance=instance, tags=req.tags
        )
        assert result.success
        (out,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_OUTPUT]
        meta = out.step_output_data.metadata
        assert meta["events"].value == 1
        assert meta["delivered"].value == (1 if attempt == 0 else 0)
    deliveries = db.execute(
        "SELECT deliveries FROM alert_events WHERE id = %s", (event_id,)
    ).fetchone()[0]
    assert len(deliveries) == 1 and deliveries[0]["ok"] and deliveries[0]["via"] == "dagster"


def test_feed_freshness_fires_once_per_episode(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance, settings
) -> None:
    now = datetime.now(UTC)
    stale_at = now - timedelta(seconds=settings.feed_max_age_s + 60)
    copy_trades(
        db, [(now if s != "BTCUSDT" else stale_at, s, 1, 10.0, 1.0, True) for s in settings.symbols]
    )
    first = evaluate(feed_freshness_sensor, db, resources, instance=instance)
    (req,) = first.run_requests
    assert json.loads(first.cursor) == {"stale": ["BTCUSDT"]}
    assert dagster_events(db) == []
    record(req, resources, instance)
    (event,) = dagster_events(db)
    assert event[:4] == ("stale_feed", "BTCUSDT", "critical", "dagster")
    client, key = stream(resources)
    (entry,) = client.xrange(key)
    assert entry[1]["kind"] == "stale_feed" and entry[1]["source"] == "dagster"
    record(req, resources, instance)  # a retried run stores nothing twice
    assert len(dagster_events(db)) == 1

    again = evaluate(feed_freshness_sensor, db, resources, instance=instance, cursor=first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor

    copy_trades(db, [(datetime.now(UTC), "BTCUSDT", 2, 10.0, 1.0, True)])
    recovered = evaluate(
        feed_freshness_sensor, db, resources, instance=instance, cursor=first.cursor
    )
    assert json.loads(recovered.cursor) == {"stale": []}
    (req2,) = recovered.run_requests
    assert req2.run_key != req.run_key
    record(req2, resources, instance)
    assert dagster_events(db)[-1][:3] == ("stale_feed", "BTCUSDT", "info")


def test_cointegration_break_fires_on_crossing_and_advances_cursor(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=20)
    insert = (
        "INSERT INTO pair_statistics (time, symbol_y, symbol_x, source, method, "
        "bar_interval, window_size, eg_pvalue) VALUES (%s, %s, 'BTCUSDT', %s, 'ols', "
        "'1m', 1440, %s)"
    )
    db.execute(insert, (t0, "ETHUSDT", "batch", 0.01))
    db.execute(insert, (t0, "SOLUSDT", "batch", 0.30))
    cursor = t0.isoformat()
    t1 = t0 + timedelta(minutes=5)
    db.execute(insert, (t1, "ETHUSDT", "batch", 0.20))  # break
    db.execute(insert, (t1, "SOLUSDT", "batch", 0.40))  # stays above: nothing
    db.execute(insert, (t1, "BNBUSDT", "live", 0.90))  # live rows are not the batch tier
    result = evaluate(cointegration_break_sensor, db, resources, instance=instance, cursor=cursor)
    (req,) = result.run_requests
    assert datetime.fromisoformat(result.cursor) == t1
    assert req.run_key == f"cointegration_break:{result.cursor}"
    (alert,) = req.run_config["ops"]["record_alerts"]["config"]["alerts"]
    assert (alert["kind"], alert["target"], alert["severity"]) == (
        "cointegration_break",
        "ETHUSDT/BTCUSDT",
        "warning",
    )
    record(req, resources, instance)
    (event,) = dagster_events(db)
    assert event[:4] == ("cointegration_break", "ETHUSDT/BTCUSDT", "warning", "dagster")

    again = evaluate(
        cointegration_break_sensor, db, resources, instance=instance, cursor=result.cursor
    )
    assert again.run_requests == [] and again.cursor == result.cursor

    db.execute(insert, (t1 + timedelta(minutes=5), "ETHUSDT", "batch", 0.02))
    restored = evaluate(
        cointegration_break_sensor, db, resources, instance=instance, cursor=result.cursor
    )
    assert datetime.fromisoformat(restored.cursor) == t1 + timedelta(minutes=5)
    (req2,) = restored.run_requests
    record(req2, resources, instance)
    assert dagster_events(db)[-1][:3] == ("cointegration_break", "ETHUSDT/BTCUSDT", "info")


@op
def explode() -> None:
    raise RuntimeError("boom")


@job
def doomed_job() -> None:
    explode()


def test_run_failure_sensor_records_alert(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    result = doomed_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    ctx = build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=resources,
    ).for_run_failure()
    before = writes(db, resources)
    req = run_failure_alert_sensor(ctx)
    assert writes(db, resources) == before, "the run-failure sensor wrote while evaluated"
    assert req.run_key == f"run_failure:{result.dagster_run.run_id}"
    record(req, resources, instance)
    (event,) = dagster_events(db)
    assert event[:4] == ("run_failure", "doomed_job", "critical", "dagster")
    client, key = stream(resources)
    assert client.xlen(key) == 1


def test_trades_observation_records_count_newest_and_lag(
    db: psycopg.Connection, resources: dict, instance: DagsterInstance
) -> None:
    newest = datetime.now(UTC) - timedelta(seconds=5)
    copy_trades(
        db,
        [
            (newest - timedelta(seconds=1), "BTCUSDT", 1, 10.0, 1.0, True),
            (newest, "BTCUSDT", 2, 10.0, 1.0, False),
        ],
    )
    db.execute("ANALYZE trades")
    result = trades_observation_sensor(build_sensor_context(instance=instance, resources=resources))
    (obs,) = result.asset_events
    assert obs.asset_key.to_user_string() == "trades"
    assert obs.metadata["trades_last_minute"].value == 2
    assert 4 <= obs.metadata["lag_s"].value < 60
    assert obs.metadata["newest_trade"].value == newest.timestamp()
