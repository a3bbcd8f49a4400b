-- Every accepted trade. Times are exchange trade time (ms precision);
-- the unique key includes the partitioning column, as hypertables require,
-- and makes replays and backfill overlaps idempotent.
CREATE TABLE IF NOT EXISTS trades (
    time            timestamptz      NOT NULL,
    symbol          text             NOT NULL,
    trade_id        bigint           NOT NULL,
    price           double precision NOT NULL CHECK (price > 0),
    qty             double precision NOT NULL CHECK (qty >= 0),
    is_buyer_maker  boolean          NOT NULL,
    event_time      timestamptz      NOT NULL,
    receive_time    timestamptz      NOT NULL,
    kind            text             NOT NULL DEFAULT 'trade',
    fill_type       text             NOT NULL DEFAULT 'MARKET',
    CONSTRAINT trades_symbol_id_time_key UNIQUE (symbol, trade_id, time)
);
SELECT create_hypertable('trades', 'time', chunk_time_interval => interval '1 day',
                         if_not_exists => true);
CREATE INDEX IF NOT EXISTS trades_symbol_time_idx ON trades (symbol, time DESC);
