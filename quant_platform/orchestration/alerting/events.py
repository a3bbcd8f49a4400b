"""Dagster-side alert events: same table and Redis stream as the daemon's alert engine.

Sensors only decide: they build `AlertEvent`s (source='dagster') and put them in
the run config of an `alert_record_job` run (`record_run_request`). That job
acts: it stores the events (`record_alerts`, safe to retry) and announces them on
the stream, where the dispatch sensor picks them up like any daemon event. So
every alert is a visible, retryable run, and evaluating a sensor writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from dagster import RunRequest
from psycopg.types.json import Jsonb

from quant_platform.alerts.redis_stream import append_sync
from quant_platform.alerts.store import AlertStore
from quant_platform.domain.alert import AlertEvent, RuleKind, Severity
from quant_platform.orchestration.resources import RedisResource, TimescaleResource

SOURCE = "dagster"
RECORD_OP = "record_alerts"
RECORD_TAGS = {"qp/lane": "alerts", "dagster/priority": "5"}


def fired(
    kind: RuleKind,
    target: str,
    severity: Severity,
    message: str,
    metrics: Mapping[str, Any],
    time: datetime | None = None,
) -> AlertEvent:
    """One alert fired by a Dagster sensor: rule_name `dagster:<kind>`, no rule id."""
    return AlertEvent(
        rule_name=f"dagster:{kind.value}",
        rule_id=None,
        kind=kind,
        target=target,
        severity=severity,
        message=message,
        metrics=dict(metrics),
        time=(time or datetime.now(UTC)).timestamp(),
        source=SOURCE,
    )


def record_run_config(events: Sequence[AlertEvent]) -> dict[str, Any]:
    """The run config of an `alert_record_job` run that stores `events` (JSON-safe)."""
    payload = []
    for e in events:
        d = e.to_dict()
        d["metrics"] = json.dumps(d["metrics"], sort_keys=True)
        payload.append(d)
    return {"ops": {RECORD_OP: {"config": {"alerts": payload}}}}


def events_from_config(alerts: Sequence[Mapping[str, Any]]) -> list[AlertEvent]:
    """The events a record run was launched with (inverse of `record_run_config`).

    Raises:
        ValueError: an entry has an unknown kind or severity, or metrics that are not JSON.
    """
    out = []
    for a in alerts:
        d = dict(a)
        d["metrics"] = json.loads(d.get("metrics") or "{}")
        out.append(AlertEvent.from_dict(d))
    return out


def record_run_request(run_key: str, events: Sequence[AlertEvent]) -> RunRequest:
    """A run request for `alert_record_job`; `run_key` makes a re-evaluated tick a no-op."""
    kinds = sorted({e.kind.value for e in events})
    return RunRequest(
        run_key=run_key,
        run_config=record_run_config(events),
        tags={**RECORD_TAGS, "qp/alerts": str(len(events)), "qp/kinds": ",".join(kinds)},
    )


def record_alerts(
    timescale: TimescaleResource, redis_resource: RedisResource, events: Sequence[AlertEvent]
) -> list[int]:
    """Persist events (one transaction), then announce each on the alerts stream.

    An event already stored (same time, rule and target: a retried run) keeps its
    row and is announced again; the dispatch job skips events it already
    delivered. The database row is the record: with Redis down the rows stay and
    the error is raised, so the run fails visibly and can be retried.

    Raises:
        psycopg.Error: the database refused or is unreachable (nothing stored).
        redis.RedisError: the stream is unreachable (rows stored, not announced).
    """
    if not events:
        return []
    ids = AlertStore(timescale.database_url).insert_events_once(events)
    append_sync(redis_resource.client(), redis_resource.key_layout(), zip(ids, events, strict=True))
    return ids


def record_delivery(
    conn: psycopg.Connection, event_id: int, event_time: datetime | None, deliveries: list[dict]
) -> None:
    """Append delivery outcomes to the event's `deliveries` array."""
    params: dict[str, Any] = {"id": event_id, "deliveries": Jsonb(deliveries), "time": event_time}
    conn.execute(
        "UPDATE alert_events SET deliveries = deliveries || %(deliveries)s "
        "WHERE id = %(id)s AND (%(time)s::timestamptz IS NULL OR time = %(time)s)",
        params,
    )
