-- Compression is a TSL feature: enable it only where the license allows
-- (the timescale/timescaledb image), never on the Apache build.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE trades SET (timescaledb.compress,
                                timescaledb.compress_segmentby = 'symbol',
                                timescaledb.compress_orderby = 'time, trade_id');
        ALTER TABLE ohlcv SET (timescaledb.compress,
                               timescaledb.compress_segmentby = 'symbol, interval');
    END IF;
END
$$;
