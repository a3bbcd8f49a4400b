"""`trades`: written by the ingestion daemon, outside Dagster, so an external asset."""

from dagster import AssetSpec

trades = AssetSpec(
    key="trades",
    group_name="trades",
    kinds={"timescaledb"},
    description=(
        "Every accepted Binance USD-M trade (hypertable, 1-day chunks), written by the "
        "ingestion daemon with COPY + ON CONFLICT DO NOTHING. Observed, not materialised, "
        "by Dagster: row count, newest trade and lag are recorded by `trades_observation_sensor`."
    ),
    metadata={"table": "trades", "writer": "qp ingest (ingestion daemon)"},
)
