"""Dagster-side alert events: same table and Redis stream as the daemon's alert engine.

Events fired by sensors (cointegration break, stale feed, failed run) are written
here with source='dagster'; the dispatch sensor then picks them up from the stream
like any daemon event, so every delivery is one visible Dagster run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from psycopg.types.json import Jsonb

from quant_platform.domain.alert import json_safe
from quant_platform.orchestration.resources import RedisResource, TimescaleResource

SOURCE = "dagster"
STREAM_MAXLEN = 10_000

_INSERT_SQL = """
INSERT INTO alert_events (time, rule_id, rule_name, kind, target, severity, message,
                          metrics, source)
VALUES (%(time)s, NULL, %(rule_name)s, %(kind)s, %(target)s, %(severity)s, %(message)s,
        %(metrics)s, %(source)s)
RETURNING id
"""


@dataclass(frozen=True)
class FiredAlert:
    """One alert fired by a Dagster sensor (rule_name is `dagster:<kind>`)."""

    kind: str
    target: str
    severity: str
    message: str
    metrics: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def rule_name(self) -> str:
        return f"dagster:{self.kind}"


def record_alerts(
    timescale: TimescaleResource, redis_resource: RedisResource, alerts: list[FiredAlert]
) -> list[int]:
    """Persist alerts (one transaction), then announce each on the alerts stream.

    The database row is the record; if Redis is down the row stays and the
    dispatch of that event is skipped (logged by the caller), never the reverse.
    Returns the new event ids.
    """
    if not alerts:
        return []
    ids: list[int] = []
    with timescale.connect() as conn:
        for a in alerts:
            row = conn.execute(
                _INSERT_SQL,
                {
                    "time": a.time,
                    "rule_name": a.rule_name,
                    "kind": a.kind,
                    "target": a.target,
                    "severity": a.severity,
                    "message": a.message,
                    "metrics": Jsonb(json_safe(a.metrics)),
                    "source": SOURCE,
                },
            ).fetchone()
            ids.append(int(row[0]))
    keys = redis_resource.key_layout()
    try:
        client = redis_resource.client()
        pipe = client.pipeline(transaction=False)
        for event_id, a in zip(ids, alerts, strict=True):
            pipe.xadd(
                keys.alerts_stream,
                stream_fields(event_id, a),
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )
        pipe.publish(keys.updates_channel, "alerts")
        pipe.execute()
    except redis.RedisError:
        pass  # the rows are stored; the dashboard reads them from the table
    return ids


def stream_fields(event_id: int, a: FiredAlert) -> dict[str, str]:
    """Flat string fields of one stream entry (the shape the dispatch job reads back)."""
    return {
        "id": str(event_id),
        "time": a.time.isoformat(),
        "rule_name": a.rule_name,
        "kind": a.kind,
        "target": a.target,
        "severity": a.severity,
        "message": a.message,
        "metrics": json.dumps(json_safe(a.metrics)),
        "source": SOURCE,
    }


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
