"""Sensors that decide the batch-tier alerts and dispatch every alert as a visible run.

Sensors only read and decide; they never write. Each returns run requests (the
alerts in the run config of `alert_record_job`, which stores and announces
them) and a cursor, so "Preview tick" in the UI has no effect and a failed
write is a failed, retryable run rather than half a tick.

* `cointegration_break_sensor`: a pair's batch Engle-Granger p-value crosses
  QP_COINTEGRATION_PVALUE (cursor: the last pair_statistics time seen).
* `feed_freshness_sensor`: a symbol's newest trade is older than QP_FEED_MAX_AGE_S
  (cursor: the set of symbols already reported stale, so one alert per episode).
* `run_failure_alert_sensor`: any failed run of this code location.
* `alert_dispatch_sensor`: new entries on the alerts stream (daemon and Dagster
  alike) → one dispatch run per batch, run_key = the batch's last stream id.
"""

import json
from datetime import UTC, datetime, timedelta

import psycopg
import redis as redis_lib
from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)

from quant_platform.domain.alert import AlertEvent, RuleKind, Severity
from quant_platform.orchestration.alerting.events import fired, record_run_request
from quant_platform.orchestration.alerting.jobs import (
    DISPATCH_TAGS,
    alert_dispatch_job,
    alert_record_job,
)
from quant_platform.orchestration.quality.checks import newest_trades
from quant_platform.orchestration.resources import (
    PlatformSettingsResource,
    RedisResource,
    TimescaleResource,
)

# ---------------------------------------------------------------- cointegration break

# New batch rows after the cursor, each with the pair's previous batch p-value
# (which may predate the cursor) so a crossing at the first new row is seen too.
_CROSSING_SQL = """
WITH new AS (
    SELECT time, symbol_y, symbol_x, eg_pvalue FROM pair_statistics
    WHERE source = 'batch' AND time > %(after)s AND eg_pvalue IS NOT NULL
),
prev AS (
    SELECT DISTINCT ON (symbol_y, symbol_x) time, symbol_y, symbol_x, eg_pvalue
    FROM pair_statistics
    WHERE source = 'batch' AND time <= %(after)s AND eg_pvalue IS NOT NULL
      AND (symbol_y, symbol_x) IN (SELECT symbol_y, symbol_x FROM new)
    ORDER BY symbol_y, symbol_x, time DESC
)
SELECT time, symbol_y, symbol_x, eg_pvalue,
       lag(eg_pvalue) OVER (PARTITION BY symbol_y, symbol_x ORDER BY time) AS prev_pvalue
FROM (SELECT * FROM prev UNION ALL SELECT * FROM new) u
ORDER BY time
"""
FIRST_LOOKBACK = timedelta(hours=1)


def cointegration_crossings(
    conn: psycopg.Connection, after: datetime, level: float
) -> tuple[list[AlertEvent], datetime | None]:
    """Alerts for p-value crossings after `after`, and the newest row time seen (or None).

    Raises:
        psycopg.Error: the query failed (database unreachable).
    """
    alerts: list[AlertEvent] = []
    newest: datetime | None = None
    for t, y, x, p, prev in conn.execute(_CROSSING_SQL, {"after": after}).fetchall():
        if t <= after:
            continue
        newest = t
        if prev is None:
            continue
        metrics = {"eg_pvalue": p, "previous_pvalue": prev, "level": level, "stats_time": t}
        if prev < level <= p:
            alerts.append(
                fired(
                    RuleKind.COINTEGRATION_BREAK,
                    f"{y}/{x}",
                    Severity.WARNING,
                    f"{y}/{x} no longer cointegrated: Engle-Granger p {prev:.4f} -> {p:.4f} "
                    f"(level {level})",
                    metrics,
                )
            )
        elif p < level <= prev:
            alerts.append(
                fired(
                    RuleKind.COINTEGRATION_BREAK,
                    f"{y}/{x}",
                    Severity.INFO,
                    f"{y}/{x} cointegrated again: Engle-Granger p {prev:.4f} -> {p:.4f} "
                    f"(level {level})",
                    metrics,
                )
            )
    return alerts, newest


@sensor(
    job=alert_record_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fires an alert when a pair's batch Engle-Granger p-value crosses the level.",
)
def cointegration_break_sensor(
    context: SensorEvaluationContext,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> SensorResult:
    after = (
        datetime.fromisoformat(context.cursor)
        if context.cursor
        else datetime.now(UTC) - FIRST_LOOKBACK
    )
    try:
        with timescale.connect() as conn:
            alerts, newest = cointegration_crossings(conn, after, platform.cointegration_pvalue)
    except psycopg.Error as exc:
        return SensorResult(
            run_requests=[], cursor=context.cursor, skip_reason=f"database unavailable: {exc}"
        )
    cursor = (newest or after).isoformat()
    if not alerts:
        return SensorResult(run_requests=[], cursor=cursor, skip_reason="no p-value crossed")
    request = record_run_request(f"cointegration_break:{cursor}", alerts)
    return SensorResult(run_requests=[request], cursor=cursor)


# ---------------------------------------------------------------- feed freshness


def freshness_transitions(
    newest: dict[str, datetime | None], now: datetime, max_age_s: float, stale_before: set[str]
) -> tuple[list[AlertEvent], set[str]]:
    """Alerts for symbols turning stale (critical) or recovering (info); the new stale set."""
    alerts: list[AlertEvent] = []
    stale: set[str] = set()
    for symbol, t in sorted(newest.items()):
        age = (now - t).total_seconds() if t is not None else None
        if age is None or age > max_age_s:
            stale.add(symbol)
            if symbol not in stale_before:
                seen = f"last trade {age:.0f} s ago" if age is not None else "no recent trades"
                alerts.append(
                    fired(
                        RuleKind.STALE_FEED,
                        symbol,
                        Severity.CRITICAL,
                        f"{symbol} feed stale: {seen} (limit {max_age_s:.0f} s)",
                        {"age_s": age, "max_age_s": max_age_s, "newest_trade": t},
                    )
                )
        elif symbol in stale_before:
            alerts.append(
                fired(
                    RuleKind.STALE_FEED,
                    symbol,
                    Severity.INFO,
                    f"{symbol} feed recovered: last trade {age:.0f} s ago",
                    {"age_s": age, "max_age_s": max_age_s, "newest_trade": t},
                )
            )
    return alerts, stale


@sensor(
    job=alert_record_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Fires once per episode when a symbol has had no trade for QP_FEED_MAX_AGE_S.",
)
def feed_freshness_sensor(
    context: SensorEvaluationContext,
    timescale: TimescaleResource,
    platform: PlatformSettingsResource,
) -> SensorResult:
    before = set(json.loads(context.cursor)["stale"]) if context.cursor else set()
    try:
        newest = newest_trades(timescale, list(platform.symbols))
    except psycopg.Error as exc:
        return SensorResult(
            run_requests=[], cursor=context.cursor, skip_reason=f"database unavailable: {exc}"
        )
    alerts, stale = freshness_transitions(
        newest, datetime.now(UTC), platform.feed_max_age_s, before
    )
    cursor = json.dumps({"stale": sorted(stale)})
    if not alerts:
        return SensorResult(
            run_requests=[], cursor=cursor, skip_reason=f"no change ({len(stale)} stale)"
        )
    key = ",".join(f"{e.target}:{e.severity.value}" for e in alerts)
    request = record_run_request(f"stale_feed:{alerts[0].time_dt.isoformat()}:{key}", alerts)
    return SensorResult(run_requests=[request], cursor=cursor)


# ---------------------------------------------------------------- run failure


@run_failure_sensor(
    request_job=alert_record_job,
    default_status=DefaultSensorStatus.RUNNING,
    description="Records every failed run as a critical alert (source='dagster').",
)
def run_failure_alert_sensor(context: RunFailureSensorContext) -> RunRequest | None:
    run = context.dagster_run
    if run.job_name in (alert_dispatch_job.name, alert_record_job.name):
        # An alert about a failed alert run would go down the same failing path
        # again; the failed run itself is the visible record.
        context.log.warning("alert run %s failed; not re-alerting", run.run_id)
        return None
    error = context.failure_event.message or "run failed"
    partition = run.tags.get("dagster/partition")
    target = run.job_name + (f"[{partition}]" if partition else "")
    alert = fired(
        RuleKind.RUN_FAILURE,
        target,
        Severity.CRITICAL,
        f"Dagster run of {target} failed: {error}"[:2000],
        {"run_id": run.run_id, "job": run.job_name, "partition": partition},
    )
    return record_run_request(f"run_failure:{run.run_id}", [alert])


# ---------------------------------------------------------------- dispatch

DISPATCH_BATCH = 200
MAX_BATCHES_PER_TICK = 10


def dispatch_requests(
    client: redis_lib.Redis, stream: str, cursor: str | None
) -> tuple[list[RunRequest], str | None]:
    """One run request per batch of new stream entries after `cursor` (a stream id).

    run_key is the batch's last id: a re-evaluation with a stale cursor requests
    the same keys, which Dagster drops, so no event is dispatched twice.
    """
    requests: list[RunRequest] = []
    start = f"({cursor}" if cursor else "-"
    for _ in range(MAX_BATCHES_PER_TICK):
        entries = client.xrange(stream, min=start, max="+", count=DISPATCH_BATCH)
        if not entries:
            break
        first, last = entries[0][0], entries[-1][0]
        requests.append(
            RunRequest(
                run_key=f"alerts:{last}",
                run_config={
                    "ops": {"dispatch_alerts": {"config": {"first_id": first, "last_id": last}}}
                },
                tags={
                    **DISPATCH_TAGS,
                    "qp/alerts": str(len(entries)),
                    "qp/stream_range": f"{first}..{last}",
                },
            )
        )
        cursor, start = last, f"({last}"
        if len(entries) < DISPATCH_BATCH:
            break
    return requests, cursor


@sensor(
    job=alert_dispatch_job,
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches a dispatch run for each batch of new alert events on the Redis stream.",
)
def alert_dispatch_sensor(context: SensorEvaluationContext, redis: RedisResource) -> SensorResult:
    try:
        requests, cursor = dispatch_requests(
            redis.client(), redis.key_layout().alerts_stream, context.cursor
        )
    except redis_lib.RedisError as exc:
        return SensorResult(
            run_requests=[], cursor=context.cursor, skip_reason=f"redis unavailable: {exc}"
        )
    return SensorResult(
        run_requests=requests,
        cursor=cursor,
        skip_reason=None if requests else "no new alert events",
    )


alerting_sensors = [
    cointegration_break_sensor,
    feed_freshness_sensor,
    run_failure_alert_sensor,
    alert_dispatch_sensor,
]
