"""Records what the daemon has written to `trades` as asset observations, once a minute."""

from datetime import UTC, datetime

import psycopg
from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from quant_platform.orchestration.resources import TimescaleResource
from quant_platform.orchestration.trades.assets import trades

# approximate_row_count reads catalog statistics: an exact count(*) over a week of
# ticks would cost seconds every minute.
_OBSERVE_SQL = """
SELECT approximate_row_count('trades'),
       (SELECT max(time) FROM trades WHERE time > now() - interval '1 day'),
       (SELECT count(*) FROM trades WHERE time > now() - interval '1 minute'),
       (SELECT count(*) FROM show_chunks('trades'))
"""


def observe_trades(conn: psycopg.Connection, now: datetime) -> dict[str, object]:
    """Row count, newest trade time, lag and recent rate of the trades table."""
    rows, newest, last_minute, chunks = conn.execute(_OBSERVE_SQL).fetchone()
    meta: dict[str, object] = {
        "approx_row_count": int(rows or 0),
        "trades_last_minute": int(last_minute or 0),
        "chunks": int(chunks or 0),
    }
    if newest is not None:
        meta["newest_trade"] = MetadataValue.timestamp(newest)
        meta["lag_s"] = round((now - newest).total_seconds(), 3)
    else:
        meta["newest_trade"] = "none in the last day"
    return meta


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Observes the daemon-written `trades` table: row count, newest trade, lag.",
)
def trades_observation_sensor(
    context: SensorEvaluationContext, timescale: TimescaleResource
) -> SensorResult | SkipReason:
    try:
        with timescale.connect() as conn:
            meta = observe_trades(conn, datetime.now(UTC))
    except psycopg.Error as exc:
        return SkipReason(f"database unavailable: {exc}")
    return SensorResult(asset_events=[AssetObservation(asset_key=trades.key, metadata=meta)])
