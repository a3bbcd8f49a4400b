-- Bars computed in-database by the Dagster resampling assets.
CREATE TABLE IF NOT EXISTS ohlcv (
    bucket        timestamptz      NOT NULL,
    symbol        text             NOT NULL,
    interval      text             NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    quote_volume  double precision NOT NULL,
    vwap          double precision,
    trade_count   bigint           NOT NULL,
    buy_volume    double precision NOT NULL,
    CONSTRAINT ohlcv_pkey PRIMARY KEY (symbol, interval, bucket)
);
SELECT create_hypertable('ohlcv', 'bucket', chunk_time_interval => interval '7 days',
                         if_not_exists => true);
