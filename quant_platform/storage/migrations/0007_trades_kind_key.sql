-- A @trade id and an @aggTrade id are two different sequences: trade 42 and
-- aggTrade 42 of the same symbol in the same millisecond are different rows.
-- The old key (symbol, trade_id, time) let whichever came first shadow the
-- other (ON CONFLICT DO NOTHING); the key now includes `kind`.
-- Compressed chunks (TSL builds only) cannot take a new unique constraint:
-- decompress them first; the compression job compresses them again later.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        PERFORM decompress_chunk(c, true) FROM show_chunks('trades') c;
    END IF;
END
$$;
ALTER TABLE trades DROP CONSTRAINT IF EXISTS trades_symbol_id_time_key;
ALTER TABLE trades ADD CONSTRAINT trades_symbol_kind_id_time_key
    UNIQUE (symbol, kind, trade_id, time);
-- The key's index (symbol, kind, trade_id, ...) also answers the daemon's start-up
-- question "newest stored id per (symbol, kind)" without another index to maintain.
