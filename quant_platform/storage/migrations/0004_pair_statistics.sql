-- History of pair statistics, from the live engine (source='live') and the
-- Dagster recomputation (source='batch').
CREATE TABLE IF NOT EXISTS pair_statistics (
    time          timestamptz      NOT NULL,
    symbol_y      text             NOT NULL,
    symbol_x      text             NOT NULL,
    source        text             NOT NULL,
    method        text             NOT NULL,
    bar_interval  text             NOT NULL,
    window_size   integer          NOT NULL,
    hedge_ratio   double precision,
    intercept     double precision,
    spread_mean   double precision,
    spread_std    double precision,
    zscore        double precision,
    correlation   double precision,
    adf_stat      double precision,
    adf_pvalue    double precision,
    eg_stat       double precision,
    eg_pvalue     double precision,
    half_life     double precision,
    n_obs         integer,
    CONSTRAINT pair_statistics_key UNIQUE (symbol_y, symbol_x, source, time)
);
SELECT create_hypertable('pair_statistics', 'time', chunk_time_interval => interval '7 days',
                         if_not_exists => true);
