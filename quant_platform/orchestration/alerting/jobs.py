"""The alert jobs: record what the sensors decided, and deliver what the stream holds.

* `alert_record_job`: store the alerts a sensor put in its run config and announce
  them on the stream (launched by the cointegration, freshness and run-failure
  sensors; re-executing it stores nothing twice).
* `alert_dispatch_job`: deliver one batch of stream events through the alert sinks.
  One run per batch (launched by `alert_dispatch_sensor` with run_key = the
  batch's last stream id) makes every delivery visible in the UI, and a
  re-executed run skips events already delivered, so nothing is sent twice.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from dagster import (
    Config,
    MetadataValue,
    OpExecutionContext,
    Output,
    in_process_executor,
    job,
    op,
)

from quant_platform.orchestration.alerting.events import (
    RECORD_OP,
    RECORD_TAGS,
    events_from_config,
    record_alerts,
    record_delivery,
)
from quant_platform.orchestration.resources import RedisResource, TimescaleResource

DISPATCH_TAGS = RECORD_TAGS


class AlertPayload(Config):
    """One alert as a sensor decided it (`AlertEvent.to_dict`, metrics as JSON text)."""

    rule_name: str
    rule_id: int | None = None
    kind: str
    target: str
    severity: str
    message: str
    metrics: str = "{}"
    time: str
    source: str = "dagster"


class RecordConfig(Config):
    """The alerts one sensor tick fired."""

    alerts: list[AlertPayload]


@op(name=RECORD_OP, description="Store the alerts a sensor fired and put them on the stream.")
def record_fired_alerts(
    context: OpExecutionContext,
    config: RecordConfig,
    redis: RedisResource,
    timescale: TimescaleResource,
) -> Output[None]:
    events = events_from_config([a.model_dump() for a in config.alerts])
    ids = record_alerts(timescale, redis, events)
    for event_id, e in zip(ids, events, strict=True):
        context.log.info("alert %s recorded: [%s] %s", event_id, e.severity.value, e.message)
    return Output(None, metadata={"alerts": len(ids), "event_ids": ", ".join(map(str, ids))})


@job(
    executor_def=in_process_executor,
    tags=RECORD_TAGS,
    description="Record alerts fired by the Dagster sensors (table + stream); safe to re-execute.",
)
def alert_record_job() -> None:
    record_fired_alerts()


class DispatchConfig(Config):
    """Inclusive range of alerts-stream ids to deliver."""

    first_id: str
    last_id: str


def parse_entry(fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry as an event dict (metrics decoded; id as int when present)."""
    event: dict[str, Any] = dict(fields)
    if isinstance(event.get("metrics"), str):
        try:
            event["metrics"] = json.loads(event["metrics"])
        except json.JSONDecodeError:
            pass
    raw_id = event.get("id") or event.get("event_id")
    event["id"] = int(raw_id) if raw_id is not None and str(raw_id).isdigit() else None
    return event


def deliver(event: dict[str, Any], log: logging.Logger | Any) -> list[dict[str, Any]]:
    """Send one event to every configured sink; returns one outcome per sink.

    Sinks come from the `sinks:` list of QP_ALERT_RULES_FILE (quant_platform.alerts.sinks).
    Daemon events already went through the daemon's own sinks, so here they go only to
    sinks marked `deliver_from: dagster`; Dagster's own events go to every sink.
    """
    from quant_platform.alerts.sinks import (
        LogSink,
        build_sinks,
        deliver_sync,
        load_sink_specs,
        text_of,
    )
    from quant_platform.config import get_settings
    from quant_platform.domain.alert import AlertEvent

    now = datetime.now(UTC).isoformat()
    try:
        alert = AlertEvent.from_dict(event)
    except ValueError as exc:  # a malformed stream entry: record why, keep dispatching
        log.warning("alert %s not deliverable: %s", event.get("id"), exc)
        return [{"sink": "parse", "ok": False, "error": str(exc), "time": now, "via": "dagster"}]
    log.info("ALERT %s", text_of(alert))
    outcomes: list[dict[str, Any]] = [{"sink": "log", "ok": True, "time": now, "via": "dagster"}]
    try:
        specs = load_sink_specs(get_settings().alert_rules_file)
        only = None if alert.source == "dagster" else "dagster"
        sinks = [s for s in build_sinks(specs, only) if not isinstance(s, LogSink)]
        results = deliver_sync(alert, sinks, event.get("id")) if sinks else []
    except Exception as exc:  # bad sink config: record it with the event, keep dispatching
        log.warning("alert sinks unavailable: %s", exc)
        return outcomes + [
            {"sink": "config", "ok": False, "error": str(exc), "time": now, "via": "dagster"}
        ]
    for r in results:
        if not r.ok:
            log.warning("alert %s: sink %s failed: %s", event.get("id"), r.sink, r.error)
    return outcomes + [{**r.to_dict(), "time": now, "via": "dagster"} for r in results]


def _parse_time(value: Any) -> datetime | None:
    """ISO-8601 or epoch milliseconds, as either writer puts it on the stream."""
    if value is None:
        return None
    text = str(value)
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text) / 1000, UTC)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _already_delivered(conn: Any, event_id: int) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM alert_events, jsonb_array_elements(deliveries) d "
        "WHERE id = %s AND d->>'via' = 'dagster' AND (d->>'ok')::boolean)",
        (event_id,),
    ).fetchone()
    return bool(row and row[0])


@op(description="Read a range of the alerts stream and deliver each event through the sinks.")
def dispatch_alerts(
    context: OpExecutionContext,
    config: DispatchConfig,
    redis: RedisResource,
    timescale: TimescaleResource,
) -> Output[None]:
    client = redis.client()
    entries = client.xrange(redis.key_layout().alerts_stream, config.first_id, config.last_id)
    delivered, skipped, failed = 0, 0, 0
    with timescale.connect(autocommit=True) as conn:
        for _stream_id, fields in entries:
            event = parse_entry(fields)
            if event["id"] is not None and _already_delivered(conn, event["id"]):
                skipped += 1
                continue
            outcomes = deliver(event, context.log)
            failed += sum(1 for o in outcomes if not o.get("ok"))
            delivered += 1
            if event["id"] is not None:
                record_delivery(conn, event["id"], _parse_time(event.get("time")), outcomes)
    return Output(
        None,
        metadata={
            "first_id": config.first_id,
            "last_id": config.last_id,
            "events": len(entries),
            "delivered": delivered,
            "already_delivered": skipped,
            "failed_deliveries": failed,
            "stream": MetadataValue.text(redis.key_layout().alerts_stream),
        },
    )


@job(
    executor_def=in_process_executor,
    tags=DISPATCH_TAGS,
    description="Deliver a batch of alert events (daemon and Dagster) through the alert sinks.",
)
def alert_dispatch_job() -> None:
    dispatch_alerts()
